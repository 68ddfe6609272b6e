//! Tokens, users and passwords, sign-in with its failure limits, and who the caller is.

use super::*;

pub(super) async fn list_tokens(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(TokenList {
        tokens: state.store.tokens().await?,
    })
    .into_response())
}

/// Makes a token; the answer is the only time it is shown.
pub(super) async fn create_token(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: NewToken = parse_body(&body)?;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_token", message);
    if !valid_name(&req.name) {
        return Err(bad(format!(
            "name {:?}: 1-64 characters of A-Z a-z 0-9 - _ . @",
            req.name
        ))
        .details(json!([{"path": "name"}])));
    }
    let role = crate::store::Role::parse(&req.role).ok_or_else(|| {
        bad(format!(
            "role {:?}: expected agent, viewer, operator or admin",
            req.role
        ))
        .details(json!([{"path": "role"}]))
    })?;
    match (role, &req.node_id) {
        (Role::Agent, Some(node)) if sniperforge_protocol::config::valid_node_id(node) => {}
        (Role::Agent, _) => {
            return Err(bad(
                "node_id: an agent token is bound to one node: 1 to 64 letters, digits, '-', '_' or '.'"
                    .into(),
            )
            .details(json!([{"path": "node_id"}])));
        }
        (_, Some(_)) => {
            return Err(bad(format!(
                "node_id: only agent tokens are bound to a node, not {}",
                role.as_str()
            ))
            .details(json!([{"path": "node_id"}])));
        }
        (_, None) => {}
    }
    let environments = scope_of(role, req.environments)?;
    if state
        .store
        .tokens()
        .await?
        .iter()
        .any(|t| t.name == req.name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "token_exists",
            format!("a token named {} exists; revoke it first", req.name),
        ));
    }
    let token = crate::store::new_token();
    match &req.node_id {
        Some(node) => {
            state
                .store
                .add_agent_token(&token, &req.name, node, environments.as_deref())
                .await?
        }
        None => {
            state
                .store
                .add_token(&token, &req.name, role, environments.as_deref())
                .await?
        }
    }
    state
        .store
        .audit(
            &caller(&ext).name,
            "token.create",
            &req.name,
            &json!({"role": role.as_str(), "node_id": req.node_id, "environments": environments}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(TokenCreated {
            name: req.name,
            role,
            node_id: req.node_id,
            environments,
            token,
        }),
    )
        .into_response())
}

/// Revokes every token of a name; the last admin cannot be revoked.
pub(super) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let tokens = state.store.tokens().await?;
    let mine: Vec<_> = tokens.iter().filter(|t| t.name == name).collect();
    if mine.is_empty() {
        return Err(ApiError::not_found(format!("token {name}")));
    }
    let admins_left = tokens
        .iter()
        .filter(|t| t.role == Role::Admin && t.name != name)
        .count();
    if admins_left == 0 && mine.iter().any(|t| t.role == Role::Admin) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "last_admin",
            format!("{name} holds the last admin token; create another admin first"),
        ));
    }
    let revoked = state.store.revoke_tokens(&name).await?;
    state
        .store
        .audit(
            &caller(&ext).name,
            "token.revoke",
            &name,
            &json!({"revoked": revoked}),
        )
        .await?;
    Ok(axum::Json(TokensRevoked { name, revoked }).into_response())
}

/// An argon2id hash (default parameters) that no password matches, verified for unknown users.
pub(super) const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c25pcGVyZm9yZ2UtZHVtbXk$2m2bWmtkZjAO8a1rq0dm8ZEn6f7lvrRjJAiRO7Ajc6E";

/// A token or user name: 1-64 of A-Z a-z 0-9 - _ . @ (so never a login's `session:…`).
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

pub(super) fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hash", e.to_string()))
}

/// Verifies against a PHC string; a hash that does not parse never matches.
pub(super) fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Creates or replaces a user who can log in with a password (admin).
pub(super) async fn put_user(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: PutUser = parse_body(&body)?;
    let bad = |path: &str, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_user", message).details(json!([{"path": path}]))
    };
    if !valid_name(&name) {
        return Err(bad(
            "name",
            format!("user {name:?}: 1-64 characters of A-Z a-z 0-9 - _ . @"),
        ));
    }
    if !(MIN_PASSWORD..=1024).contains(&req.password.chars().count()) {
        return Err(bad(
            "password",
            format!("password: {MIN_PASSWORD} to 1024 characters"),
        ));
    }
    let role = Role::parse(&req.role)
        .filter(|r| *r != Role::Agent)
        .ok_or_else(|| {
            bad(
                "role",
                format!("role {:?}: expected viewer, operator or admin", req.role),
            )
        })?;
    let environments = scope_of(role, req.environments)?;
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hash", e.to_string()))??;
    let created = state
        .store
        .put_user(&name, &hash, role, environments.as_deref())
        .await?;
    // A changed password or role ends the user's sessions.
    state
        .store
        .revoke_tokens(&format!("session:{name}"))
        .await?;
    state
        .store
        .audit(
            &caller(&ext).name,
            if created {
                "user.create"
            } else {
                "user.update"
            },
            &name,
            &json!({"role": role.as_str(), "environments": environments}),
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(NameRole {
            name,
            role,
            environments,
        }),
    )
        .into_response())
}

pub(super) async fn list_users(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(UserList {
        users: state.store.users().await?,
    })
    .into_response())
}

pub(super) async fn delete_user(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    if !state.store.delete_user(&name).await? {
        return Err(ApiError::not_found(format!("user {name}")));
    }
    state
        .store
        .audit(&caller(&ext).name, "user.delete", &name, &Value::Null)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Password login: a session token for the user's role, valid for 12 h. Wrong credentials
/// answer one 401 whatever was wrong (logged and audited). Every attempt counts as a failure
/// from before its verification until it succeeds: a client with 5 (or a user name with 10)
/// in the last minute gets 429, however many it sends at once; at most 4 verifications run at
/// a time across the gateway.
pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    // An IPv6 client is its /64 (one host holds a whole prefix).
    let client = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(
            || "unknown".to_string(),
            |c| match c.0.ip() {
                std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.to_string(),
                    None => {
                        let s = v6.segments();
                        format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                    }
                },
                ip => ip.to_string(),
            },
        );
    let req: Login = parse_body(&body)?;
    // The limiter's key for the user: names no user can have share one.
    let user_key = if valid_name(&req.name) {
        req.name.clone()
    } else {
        "(invalid name)".to_string()
    };
    let limited = |wait: std::time::Duration, why: String| {
        let secs = wait.as_secs().max(1);
        let mut resp = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", why)
            .details(json!({"retry_after_s": secs}))
            .into_response();
        if let Ok(v) = secs.to_string().parse() {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    };
    // Counted before anything is verified: a burst of parallel attempts gets its allowance,
    // and 429 for the rest.
    let now = std::time::Instant::now();
    let wait = state
        .login_failures
        .lock()
        .map_or(Some(LOGIN_WINDOW), |mut f| f.admit(&client, &user_key, now));
    if let Some(wait) = wait {
        let secs = wait.as_secs().max(1);
        return Ok(limited(
            wait,
            format!("too many failed logins from {client} or for this user; try again in {secs} s"),
        ));
    }
    // A few verifications at a time, whoever asks.
    let Ok(Ok(_slot)) = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        Arc::clone(&state.login_slots).acquire_owned(),
    )
    .await
    else {
        if let Ok(mut f) = state.login_failures.lock() {
            f.succeeded(&client, &user_key, now);
        }
        return Ok(limited(
            std::time::Duration::from_secs(1),
            "too many logins in progress; try again in 1 s".into(),
        ));
    };
    let user = state.store.user(&req.name).await?;
    // Unknown users cost the same hash as known ones: the answer's time says nothing.
    let (phc, role, environments) = user
        .clone()
        .unwrap_or_else(|| (DUMMY_PHC.to_string(), Role::Viewer, Some(Vec::new())));
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
        && user.is_some();
    if !ok {
        tracing::warn!(user = %user_key, %client, "failed login");
        state
            .store
            .audit(
                "anonymous",
                "auth.login_failed",
                &user_key,
                &json!({"client": client}),
            )
            .await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong user name or password",
        ));
    }
    if let Ok(mut f) = state.login_failures.lock() {
        f.succeeded(&client, &user_key, now);
    }
    let token = crate::store::new_token();
    let expires_at = state.store.now_ms() + SESSION_TTL_MS;
    state
        .store
        .add_session(&token, &req.name, role, environments.as_deref(), expires_at)
        .await?;
    state
        .store
        .audit(
            &req.name,
            "auth.login",
            &req.name,
            &json!({"client": client}),
        )
        .await?;
    Ok(axum::Json(Session {
        token,
        name: req.name,
        role,
        environments,
        expires_at,
    })
    .into_response())
}

/// Who the token belongs to and its role (the UI hides what the role may not do).
pub(super) async fn me(ext: axum::http::Extensions) -> ApiResult {
    let c = caller(&ext);
    Ok(axum::Json(NameRole {
        name: c.name,
        role: c.role,
        environments: c.environments,
    })
    .into_response())
}

/// The environments a new token or user is scoped to: `None` for all; a scope is for viewers
/// and operators (an admin manages the whole fleet, an agent its node) and names at least one.
fn scope_of(
    role: Role,
    environments: Option<Vec<crate::store::Environment>>,
) -> Result<Option<Vec<crate::store::Environment>>, ApiError> {
    let Some(mut envs) = environments else {
        return Ok(None);
    };
    let bad = |message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_scope", message)
            .details(json!([{"path": "environments"}]))
    };
    if !matches!(role, Role::Viewer | Role::Operator | Role::Agent) {
        return Err(bad(format!(
            "environments: only viewer, operator and agent tokens and viewer and operator users are scoped; {} reaches the whole fleet",
            role.as_str()
        )));
    }
    let named = envs.len();
    envs.sort();
    envs.dedup();
    if envs.is_empty() || envs.len() != named {
        return Err(bad(
            "environments: name each of dev, test, prod at most once, at least one (leave it out for all)"
                .into(),
        ));
    }
    Ok(Some(envs))
}
