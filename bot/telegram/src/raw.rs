//! Bot API calls made by us for the requests teloxide builds. teloxide-core sleeps 10 s
//! inside every request answered with a 5xx (`DELAY_ON_SERVER_ERROR` in its
//! `process_response`) before it returns the error: that held the getUpdates loop and
//! every retry for 10 s per server error. Here the answer comes back at once, a server
//! error marked as such ([`CallError::server`]), and the caller's backoff decides.
//!
//! The request is teloxide's own payload, serialized as teloxide does, sent with the bot's
//! own `reqwest` client (its timeouts), and the answer parsed into teloxide's types and
//! errors, so nothing else changes for the callers.

use std::sync::Arc;

use serde_json::Value;
use teloxide::requests::{HasPayload, Payload};
use teloxide::types::Seconds;
use teloxide::{ApiError, Bot, RequestError};

/// A failed call: teloxide's error, and whether the server said it failed (HTTP 5xx, or
/// an error code of 500 and up), which is worth another try.
#[derive(Debug)]
pub(crate) struct CallError {
    pub(crate) error: RequestError,
    pub(crate) server: bool,
}

impl From<RequestError> for CallError {
    fn from(error: RequestError) -> Self {
        CallError {
            error,
            server: false,
        }
    }
}

/// Sends `req` (a teloxide request: its payload) to the Bot API and parses the answer.
pub(crate) async fn call<R>(
    bot: &Bot,
    req: &R,
) -> Result<<R::Payload as Payload>::Output, CallError>
where
    R: HasPayload,
    R::Payload: serde::Serialize,
    <R::Payload as Payload>::Output: serde::de::DeserializeOwned,
{
    let body = serde_json::to_vec(req.payload_ref()).map_err(|e| RequestError::InvalidJson {
        source: Arc::new(e),
        raw: "".into(),
    })?;
    let url = method_url(bot, <R::Payload as Payload>::NAME)?;
    let network = |e| RequestError::Network(Arc::new(e));
    let response = bot
        .client()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(network)?;
    answer(response).await
}

/// A file sent with a call, as one part of a multipart/form-data body.
pub(crate) struct Upload {
    /// The part's name: the method's file field (`document`), or the name an
    /// `attach://NAME` in a JSON field points at (editMessageMedia's `media`).
    pub(crate) field: &'static str,
    pub(crate) file_name: String,
    pub(crate) mime: &'static str,
    pub(crate) bytes: Vec<u8>,
}

/// Calls `method` with `fields` (text parts; JSON values already serialised) and one file,
/// as multipart/form-data (Telegram's way of uploading files), and parses the answer
/// like [`call`].
pub(crate) async fn upload<T: serde::de::DeserializeOwned>(
    bot: &Bot,
    method: &str,
    fields: &[(&'static str, String)],
    file: &Upload,
) -> Result<T, CallError> {
    let network = |e| RequestError::Network(Arc::new(e));
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(*name, value.clone());
    }
    let part = reqwest::multipart::Part::bytes(file.bytes.clone())
        .file_name(file.file_name.clone())
        .mime_str(file.mime)
        .map_err(network)?;
    form = form.part(file.field, part);
    let response = bot
        .client()
        .post(method_url(bot, method)?)
        .multipart(form)
        .send()
        .await
        .map_err(network)?;
    answer(response).await
}

/// `<api>/bot<token>/<method>`.
fn method_url(bot: &Bot, method: &str) -> Result<reqwest::Url, CallError> {
    let mut url = bot.api_url();
    let Ok(mut segments) = url.path_segments_mut() else {
        // Checked at start: the configured URL is a base URL.
        return Err(RequestError::Api(ApiError::Unknown(
            "telegram.api_url is not a base URL".into(),
        ))
        .into());
    };
    segments.push(&format!("bot{}", bot.token()));
    segments.push(method);
    drop(segments);
    Ok(url)
}

/// Reads and parses an HTTP answer of the Bot API.
async fn answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, CallError> {
    let network = |e| RequestError::Network(Arc::new(e));
    let status_server = response.status().is_server_error();
    let text = response.text().await.map_err(|e| CallError {
        error: network(e),
        server: status_server,
    })?;
    parse(&text).map_err(|(error, code_server)| CallError {
        error,
        server: status_server || code_server,
    })
}

/// A successful answer's result (the other fields are not needed).
#[derive(serde::Deserialize)]
struct Success<T> {
    result: T,
}

/// An answer of the Bot API: its result, or the error and whether its code is a server's.
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (RequestError, bool)> {
    let invalid = |e: serde_json::Error| {
        (
            RequestError::InvalidJson {
                source: Arc::new(e),
                raw: text.chars().take(200).collect::<String>().into(),
            },
            false,
        )
    };
    let v: Value = serde_json::from_str(text).map_err(invalid)?;
    if v["ok"] == Value::Bool(true) {
        // From the text, as teloxide does: its types (an update's kind) do not all
        // deserialize from a `Value`.
        return serde_json::from_str::<Success<T>>(text)
            .map(|s| s.result)
            .map_err(invalid);
    }
    let server = v["error_code"].as_u64().is_some_and(|c| c >= 500);
    if let Some(s) = v["parameters"]["retry_after"].as_u64() {
        let s = u32::try_from(s).unwrap_or(u32::MAX);
        return Err((RequestError::RetryAfter(Seconds::from_seconds(s)), server));
    }
    if let Some(to) = v["parameters"]["migrate_to_chat_id"].as_i64() {
        return Err((
            RequestError::MigrateToChatId(teloxide::types::ChatId(to)),
            server,
        ));
    }
    let description = v["description"].clone();
    let api = serde_json::from_value::<ApiError>(description)
        .unwrap_or_else(|_| ApiError::Unknown(text.chars().take(200).collect()));
    Err((RequestError::Api(api), server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_into_teloxides_errors() {
        assert_eq!(
            parse::<bool>(r#"{"ok":true,"result":true}"#).ok(),
            Some(true)
        );
        let (e, server) =
            parse::<bool>(r#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#)
                .unwrap_err();
        assert!(
            server && matches!(e, RequestError::Api(ApiError::Unknown(_))),
            "{e}"
        );
        let (e, server) = parse::<bool>(
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        )
        .unwrap_err();
        assert!(
            !server && matches!(e, RequestError::Api(ApiError::ChatNotFound)),
            "{e}"
        );
        let (e, _) = parse::<bool>(
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, RequestError::RetryAfter(s) if s.seconds() == 3),
            "{e}"
        );
        let (e, _) = parse::<bool>("<html><body>502 Bad Gateway</body></html>").unwrap_err();
        assert!(matches!(e, RequestError::InvalidJson { .. }), "{e}");
        let updates = parse::<Vec<teloxide::types::Update>>(
            r#"{"ok":true,"result":[{"update_id":7,"message":{"message_id":3,"date":1700000000,"chat":{"id":1001,"type":"private","first_name":"a"},"from":{"id":1001,"is_bot":false,"first_name":"a"},"text":"/help"}}]}"#,
        )
        .unwrap_or_else(|e| panic!("{}", e.0));
        assert!(
            matches!(&updates[0].kind, teloxide::types::UpdateKind::Message(m) if m.text() == Some("/help")),
            "{updates:?}"
        );
        let (e, _) = parse::<bool>(r#"{"ok":true,"res"#).unwrap_err();
        assert!(matches!(e, RequestError::InvalidJson { .. }), "{e}");
    }
}
