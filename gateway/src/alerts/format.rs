//! Webhook bodies in the shape each receiver reads: generic JSON, a Slack incoming webhook, a
//! Discord webhook or Telegram's bot API `sendMessage`. The text is the gateway's; what it
//! quotes from outside (a bot's reason, a route's name) cannot mention anyone or break out of
//! the message's markup: Slack's `&`, `<`, `>` and Discord's markdown are escaped (no masked
//! links), Discord's mentions are off, Telegram's text is plain. A bare URL in a quoted text
//! is still shown as one by the receivers that link URLs.

use serde_json::{Value, json};

use super::{Rule, WebhookFormat};

/// Discord's limit on `content`.
const DISCORD_MAX: usize = 2_000;
/// Telegram's limit on `text`.
const TELEGRAM_MAX: usize = 4_096;
/// Slack's limit on a section's text.
const SLACK_MAX: usize = 3_000;

/// At most `max` characters of `text`, the last one `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn escapes: `&`, `<` and `>` (so `<!channel>` or `<http://…|…>` stay text).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Discord's markdown escaped (so a quoted `[text](url)` is no masked link, `**` no bold; an
/// embed's title renders none, so it is left as written).
fn discord_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '<'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The body `rule`'s webhook receives for `text`: `good` picks a colour where the format has
/// one (green: a profit or a resolution; red: a loss, a failure or an alert); `fields` (an
/// object) is merged into the generic body as is.
pub fn body(rule: &Rule, text: &str, good: bool, fields: Value) -> Value {
    match rule.format {
        WebhookFormat::Generic => {
            // `text` as Slack reads it, `content` as Discord does (neither pinging anyone or
            // linking anywhere), `message` as written.
            let mut body = json!({
                "text": slack_escape(text),
                "content": cut(&discord_escape(text), DISCORD_MAX),
                "allowed_mentions": {"parse": []},
                "message": text,
                "rule_id": rule.rule_id,
            });
            if let (Some(b), Value::Object(f)) = (body.as_object_mut(), fields) {
                b.extend(f);
            }
            body
        }
        WebhookFormat::Slack => {
            let escaped = slack_escape(text);
            json!({
                "text": escaped,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": cut(&escaped, SLACK_MAX)}}],
                "unfurl_links": false,
            })
        }
        WebhookFormat::Discord => {
            let (title, rest) = text.split_once('\n').unwrap_or((text, ""));
            let rest = discord_escape(rest);
            let mut embed = json!({
                "title": cut(title, 256),
                "color": if good { 0x2e_a0_43 } else { 0xd0_3a_3a },
                "footer": {"text": format!("rule {}", rule.rule_id)},
            });
            if !rest.is_empty() {
                embed["description"] = json!(cut(&rest, 4_096));
            }
            json!({
                "content": cut(&discord_escape(title), DISCORD_MAX),
                "embeds": [embed],
                "allowed_mentions": {"parse": []},
            })
        }
        WebhookFormat::Telegram => json!({
            "chat_id": rule.chat_id.as_deref().unwrap_or_default(),
            "text": cut(text, TELEGRAM_MAX),
            "disable_web_page_preview": true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(format: WebhookFormat) -> Rule {
        Rule {
            rule_id: "r".into(),
            kind: super::super::RuleKind::BotError {},
            webhook: String::new(),
            scope: "fleet".into(),
            format,
            chat_id: Some("-1001".into()),
        }
    }

    #[test]
    fn each_format_has_its_shape_and_quotes_nothing_live() {
        let text = "ALERT bot a: <!channel> @everyone & <http://x|y> [x](http://e)";
        let g = body(
            &rule(WebhookFormat::Generic),
            text,
            false,
            json!({"alert_id": "r:a"}),
        );
        assert_eq!(
            (&g["message"], &g["alert_id"]),
            (&json!(text), &json!("r:a"))
        );
        assert!(!g["text"].as_str().unwrap().contains('<'), "{g}");
        assert_eq!(g["allowed_mentions"]["parse"], json!([]));
        assert!(
            g["content"].as_str().unwrap().contains("\\[x\\](http"),
            "{g}"
        );
        let masked = body(
            &rule(WebhookFormat::Discord),
            "title [a](https://evil)\n[Verify](https://evil) **now**",
            false,
            Value::Null,
        );
        assert_eq!(
            masked["embeds"][0]["description"],
            "\\[Verify\\](https://evil) \\*\\*now\\*\\*"
        );
        assert_eq!(masked["content"], "title \\[a\\](https://evil)");
        let s = body(&rule(WebhookFormat::Slack), text, false, Value::Null);
        let shown = s["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            !shown.contains('<') && shown.contains("&lt;!channel&gt;"),
            "{s}"
        );
        let d = body(
            &rule(WebhookFormat::Discord),
            "title\nmore",
            true,
            Value::Null,
        );
        assert_eq!(d["allowed_mentions"]["parse"], json!([]));
        assert_eq!(d["embeds"][0]["title"], "title");
        assert_eq!(d["embeds"][0]["description"], "more");
        assert_eq!(
            d["content"], "title",
            "the text once: its first line, then the embed"
        );
        assert_eq!(d["embeds"][0]["color"], 0x2ea043);
        let t = body(&rule(WebhookFormat::Telegram), text, false, Value::Null);
        assert_eq!(t["chat_id"], "-1001");
        assert!(
            t.get("parse_mode").is_none(),
            "plain text: no markup to inject"
        );
        let long = "x".repeat(10_000);
        let d = body(&rule(WebhookFormat::Discord), &long, true, Value::Null);
        assert!(d["content"].as_str().unwrap().chars().count() <= DISCORD_MAX);
        let t = body(&rule(WebhookFormat::Telegram), &long, true, Value::Null);
        assert_eq!(t["text"].as_str().unwrap().chars().count(), TELEGRAM_MAX);
    }
}
