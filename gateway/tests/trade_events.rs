//! Trade events end to end on real SQLite and PostgreSQL: rules of kind `trade` (scoped to the
//! fleet, a bot, an environment or a type; filtered by |PnL| and failures) post each newly
//! stored fill to real local HTTP receivers, in each ready format (generic, Slack, Discord,
//! Telegram's bot API), once however often a report carries it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Role, router};

mod common;
use common::{call, node_with_bots, postgres_for, store_with_scoped_tokens};

type Got = Arc<Mutex<Vec<(String, Value)>>>;

/// A receiver on 127.0.0.1 keeping each body with the path it was posted to.
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().fallback(axum::routing::post(
        move |uri: axum::http::Uri, body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((
                    uri.path().to_string(),
                    serde_json::from_str(&body).unwrap_or(Value::Null),
                ));
                "ok"
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn fill(seq: u64, pnl_usd: Option<f64>) -> Value {
    json!({"seq": seq, "at_ms": now_ms(), "token": "SOL", "cycle": 4, "amount_in": 1.5,
        "amount_out": pnl_usd.map(|p| 1.5 + p / 100.0), "expected_out": 1.52,
        "pnl": pnl_usd.unwrap_or(0.0) / 100.0, "pnl_usd": pnl_usd.unwrap_or(0.0),
        "volume_usd": 150.0, "route": "SOL>USDC>SOL via raydium_v4,whirlpool", "slot": 9,
        "latency_us": 120})
}

fn bodies(got: &Got, path: &str) -> Vec<Value> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, b)| b.clone())
        .collect()
}

async fn exercise(url: &str) {
    let store = store_with_scoped_tokens(url, &[("adm", "alice", Role::Admin, None)]).await;
    let app = router(
        AppState::new(store)
            .await
            .unwrap()
            .with_webhooks(sniperforge_gateway::alerts::Webhooks::default().allowing_private()),
    );
    let (base, got) = receiver().await;
    node_with_bots(&app, "adm", &[("a1", "dev"), ("p1", "prod")]).await;

    // Rules a receiver cannot use are refused at the field.
    for (rule, field) in [
        (json!({"kind": "trade", "format": "telegram"}), "chat_id"),
        (
            json!({"kind": "trade", "format": "telegram", "chat_id": "x y"}),
            "chat_id",
        ),
        (
            json!({"kind": "trade", "format": "slack", "chat_id": "-1"}),
            "chat_id",
        ),
        (
            json!({"kind": "trade", "min_abs_pnl_usd": -1.0}),
            "min_abs_pnl_usd",
        ),
    ] {
        let (s, body) = call(
            &app,
            "PUT",
            "/api/v1/alerts/rules/bad",
            "adm",
            Some(rule.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{rule}: {body}");
        assert_eq!(body["error"]["details"][0]["path"], field, "{rule}: {body}");
    }
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/bad",
        "adm",
        Some(json!({"kind": "trade", "format": "teams"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    for (id, rule) in [
        (
            "all",
            json!({"kind": "trade", "webhook": format!("{base}/generic")}),
        ),
        (
            "big-a1",
            json!({"kind": "trade", "scope": "bot:a1", "min_abs_pnl_usd": 1.0,
            "format": "slack", "webhook": format!("{base}/slack")}),
        ),
        (
            "prod",
            json!({"kind": "trade", "scope": "env:prod", "format": "discord",
            "webhook": format!("{base}/discord")}),
        ),
        (
            "failed",
            json!({"kind": "trade", "scope": "type:enhanced_arbitrage",
            "failures_only": true, "format": "telegram", "chat_id": "-100123",
            "webhook": format!("{base}/bot123:ABC/sendMessage")}),
        ),
    ] {
        let (s, body) = call(
            &app,
            "PUT",
            &format!("/api/v1/alerts/rules/{id}"),
            "adm",
            Some(rule),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{id}: {body}");
    }
    let (_, rules) = call(&app, "GET", "/api/v1/alerts/rules", "adm", None).await;
    let failed = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule_id"] == "failed")
        .unwrap()
        .clone();
    assert_eq!(
        (&failed["format"], &failed["chat_id"]),
        (&json!("telegram"), &json!("-100123")),
        "{rules}"
    );

    let report = json!({"node_id": "n1", "bots": [
        {"bot_id": "a1", "status": {"state": "running"}, "metrics": {},
         "fills": [fill(1, Some(2.0)), fill(2, Some(-0.5)), fill(3, None)]},
        {"bot_id": "p1", "status": {"state": "running"}, "metrics": {}, "fills": [fill(1, Some(-3.0))]},
    ]});
    // The same report twice (an answer lost on the way back): posted once.
    for _ in 0..2 {
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/agent/report",
            "adm",
            Some(report.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    for _ in 0..100 {
        if got.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(got.lock().unwrap().len(), 4, "{:?}", got.lock().unwrap());

    // Generic: one message for the rule, both bots' fills listed with their fields.
    let generic = bodies(&got, "/generic");
    assert_eq!(generic.len(), 1, "{generic:?}");
    let all = &generic[0];
    assert_eq!(
        (&all["event"], &all["count"], &all["bots"]),
        (&json!("trade"), &json!(4), &json!(["a1", "p1"]))
    );
    assert_eq!(all["trades"][2]["fill"]["amount_out"], Value::Null);
    assert_eq!(all["trades"][3]["environment"], "prod");
    let message = all["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "TRADES 4 fills from 2 bots, -1.50 USD, 1 failed\na1 #1 +2.00 USD SOL>USDC>SOL"
        ),
        "{all}"
    );
    // As Slack and Discord read it: nothing that links or pings.
    assert!(
        all["text"].as_str().unwrap().contains("SOL&gt;USDC&gt;SOL"),
        "{all}"
    );
    assert!(
        all["content"]
            .as_str()
            .unwrap()
            .contains("SOL\\>USDC\\>SOL"),
        "{all}"
    );
    assert_eq!(all["allowed_mentions"]["parse"], json!([]));
    // Slack: a1's fills of at least 1 USD either way only.
    let slack = bodies(&got, "/slack");
    assert_eq!(slack.len(), 1);
    let shown = slack[0]["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        shown.starts_with("TRADE a1 (dev, node n1): +2.00 USD\n#1 +2.00 USD SOL&gt;USDC&gt;SOL"),
        "{shown}"
    );
    assert_eq!(slack[0]["blocks"][0]["text"]["type"], "mrkdwn");
    // Discord: prod's loss, in red, no mentions.
    let discord = bodies(&got, "/discord");
    assert_eq!(discord.len(), 1);
    assert_eq!(
        discord[0]["embeds"][0]["title"],
        "TRADE p1 (prod, node n1): -3.00 USD"
    );
    assert_eq!(discord[0]["embeds"][0]["color"], 0xd03a3a);
    assert_eq!(discord[0]["allowed_mentions"]["parse"], json!([]));
    // Telegram: the failure only, to its chat.
    let telegram = bodies(&got, "/bot123:ABC/sendMessage");
    assert_eq!(telegram.len(), 1);
    assert_eq!(telegram[0]["chat_id"], "-100123");
    assert!(
        telegram[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("TRADE FAILED a1 (dev, node n1)\n#3 FAILED"),
        "{}",
        telegram[0]
    );

    // Paced: a rule's next message waits out its gap; the evaluation loop sends it then.
    let more = json!({"node_id": "n1", "bots": [
        {"bot_id": "a1", "status": {"state": "running"}, "metrics": {}, "fills": [fill(4, Some(5.0))]},
    ]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", "adm", Some(more)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        bodies(&got, "/generic").len(),
        1,
        "held back within the gap"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3_000)).await;
    let (s, body) = call(&app, "POST", "/api/v1/alerts/evaluate", "adm", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    for _ in 0..100 {
        if bodies(&got, "/generic").len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let generic = bodies(&got, "/generic");
    assert_eq!(generic.len(), 2, "{generic:?}");
    assert!(
        generic[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("TRADE a1 (dev, node n1): +5.00 USD"),
        "{}",
        generic[1]
    );
}

#[tokio::test]
async fn trade_events_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn trade_events_on_postgres() {
    let Some((_pg, url)) = postgres_for("trade_events_on_postgres") else {
        return;
    };
    exercise(&url).await;
}
