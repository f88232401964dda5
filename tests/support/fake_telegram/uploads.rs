//! File uploads, as Telegram takes them: multipart/form-data bodies (text fields, and file
//! parts with a file name), `sendDocument`, `editMessageMedia` (an `attach://NAME` in the
//! `media` JSON naming the file part) and `editMessageCaption`.
//!
//! Telegram's rules kept here: bots upload at most 50 MB (413 "Request Entity Too Large"),
//! a caption is at most 1024 characters after entity parsing, a file must be non-empty,
//! an edit that changes nothing (same bytes, caption and buttons) is "message is not
//! modified", and a text edit of a document message or a media edit of a text message is
//! refused. Every accepted file is kept ([`super::State::uploads`]) for the tests.

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::{
    bad, chat_of, check_markup, flood_check, message_json, unix_now, visible, ApiErr, ApiResult,
    ChatMessage, FakeTelegram, State, NOT_MODIFIED,
};

/// Bots may upload files up to this size (Bot API: 50 MB for other files).
pub const MAX_UPLOAD: usize = 50 * 1024 * 1024;
/// A caption's limit, in UTF-16 units after entity parsing.
pub const MAX_CAPTION_UTF16: usize = 1024;
pub const CAPTION_TOO_LONG: &str = "Bad Request: message caption is too long";
pub const TOO_LARGE: &str = "Request Entity Too Large";

/// A file part of a multipart body.
#[derive(Debug, Clone)]
pub struct FilePart {
    /// The form field (`document`, or the name an `attach://` points at).
    pub field: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A document as a message carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub file_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A file the bot uploaded and Telegram accepted.
#[derive(Debug, Clone)]
pub struct Upload {
    pub method: String,
    pub chat_id: i64,
    pub message_id: i64,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub bytes: Vec<u8>,
    pub caption: String,
    pub at: Instant,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `name="x"; filename="y"` parameters of a part header.
fn header_param(header: &str, key: &str) -> Option<String> {
    header.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Parses a multipart/form-data body into text fields (JSON values decoded, as Telegram
/// does with `reply_markup`, `media`) and file parts.
pub(super) fn parse_multipart(
    content_type: &str,
    body: &[u8],
    params: &mut Map<String, Value>,
) -> Result<Vec<FilePart>, ApiErr> {
    if body.len() > MAX_UPLOAD {
        return Err(ApiErr {
            code: 413,
            description: TOO_LARGE.into(),
            retry_after: None,
        });
    }
    let malformed = || bad("Bad Request: can't parse multipart/form-data body");
    let boundary = header_param(content_type, "boundary").ok_or_else(malformed)?;
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let start = find(body, delim.as_bytes()).ok_or_else(malformed)?;
    let mut rest = &body[start + delim.len()..];
    let mut files = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(files);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or_else(malformed)?;
        let end = find(rest, next_delim.as_bytes()).ok_or_else(malformed)?;
        let part = &rest[..end];
        rest = &rest[end + next_delim.len()..];
        let head_end = find(part, b"\r\n\r\n").ok_or_else(malformed)?;
        let head = String::from_utf8_lossy(&part[..head_end]).into_owned();
        let data = &part[head_end + 4..];
        let mut name = None;
        let mut file_name = None;
        let mut part_type = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = header_param(v, "name");
                file_name = header_param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                part_type = Some(v.trim().to_string());
            }
        }
        let name = name.ok_or_else(malformed)?;
        if file_name.is_some() || part_type.is_some() {
            params.insert(
                name.clone(),
                json!({"upload": file_name.clone(), "bytes": data.len()}),
            );
            files.push(FilePart {
                field: name,
                file_name,
                content_type: part_type,
                bytes: data.to_vec(),
            });
        } else {
            let v = String::from_utf8_lossy(data).into_owned();
            let value = if v.starts_with('{') || v.starts_with('[') {
                serde_json::from_str(&v).unwrap_or(Value::String(v))
            } else {
                Value::String(v)
            };
            params.insert(name, value);
        }
    }
}

/// The caption as shown, checked (an absent or blank one is none).
fn caption(v: Option<&Value>, parse_mode: Option<&str>) -> Result<(String, String), ApiErr> {
    let raw = v.and_then(Value::as_str).unwrap_or("").to_string();
    if raw.trim().is_empty() {
        return Ok((String::new(), raw));
    }
    let shown = match visible(&raw, parse_mode) {
        Ok(s) => s,
        // `visible` checks a message's 4096; a caption's own limit is below.
        Err(e) if e.description == super::TOO_LONG => return Err(bad(CAPTION_TOO_LONG)),
        Err(e) => return Err(e),
    };
    if shown.chars().map(char::len_utf16).sum::<usize>() > MAX_CAPTION_UTF16 {
        return Err(bad(CAPTION_TOO_LONG));
    }
    Ok((shown, raw))
}

/// The file a field names: the part itself, or `attach://NAME`'s part.
fn file_of<'a>(
    field: &str,
    value: Option<&Value>,
    files: &'a [FilePart],
    missing: &str,
) -> Result<&'a FilePart, ApiErr> {
    let wanted = match value {
        None => return Err(bad(missing.to_string())),
        Some(Value::String(s)) => match s.strip_prefix("attach://") {
            Some(name) => name.to_string(),
            // A file_id or URL: this fake only knows uploads.
            None => return Err(bad("Bad Request: wrong file identifier/HTTP URL specified")),
        },
        Some(_) => field.to_string(),
    };
    let f = files
        .iter()
        .find(|f| f.field == wanted)
        .ok_or_else(|| bad(missing.to_string()))?;
    if f.bytes.is_empty() {
        return Err(bad("Bad Request: file must be non-empty"));
    }
    Ok(f)
}

fn document(st: &mut State, f: &FilePart) -> Document {
    st.next_file += 1;
    Document {
        file_id: format!("doc_{}", st.next_file),
        file_name: f.file_name.clone(),
        mime_type: f.content_type.clone(),
        bytes: f.bytes.clone(),
    }
}

fn keep(st: &mut State, method: &str, m: &ChatMessage) {
    if let Some(d) = &m.document {
        st.uploads.push(Upload {
            method: method.into(),
            chat_id: m.chat_id,
            message_id: m.message_id,
            file_name: d.file_name.clone(),
            mime_type: d.mime_type.clone(),
            bytes: d.bytes.clone(),
            caption: m.text.clone(),
            at: Instant::now(),
        });
    }
}

pub(super) fn send_document(
    st: &mut State,
    p: &Map<String, Value>,
    files: &[FilePart],
) -> ApiResult {
    let chat = chat_of(st, p)?;
    let f = file_of(
        "document",
        p.get("document"),
        files,
        "Bad Request: there is no document in the request",
    )?;
    let mode = p.get("parse_mode").and_then(Value::as_str);
    let (text, raw) = caption(p.get("caption"), mode)?;
    let markup = check_markup(p)?;
    flood_check(st, chat)?;
    let message_id = FakeTelegram::new_message_id(st, chat);
    let doc = document(st, f);
    let m = ChatMessage {
        chat_id: chat,
        message_id,
        from: st.opts.bot_id,
        from_bot: true,
        text,
        raw,
        parse_mode: mode.map(str::to_string),
        reply_markup: markup,
        reply_to: None,
        voice_file_id: None,
        document: Some(doc),
        edits: 0,
        deleted: false,
        date: unix_now(),
        silent: p
            .get("disable_notification")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    keep(st, "sendDocument", &m);
    let v = message_json(&st.opts, &m);
    st.chats.entry(chat).or_default().insert(message_id, m);
    Ok(v)
}

/// The message an edit is about: the bot's, not deleted.
fn editable(st: &State, p: &Map<String, Value>) -> Result<(i64, ChatMessage), ApiErr> {
    if p.contains_key("inline_message_id") {
        return Err(bad("Bad Request: MESSAGE_ID_INVALID"));
    }
    let chat = chat_of(st, p)?;
    let id = p
        .get("message_id")
        .and_then(super::as_i64)
        .ok_or_else(|| bad("Bad Request: message identifier is not specified"))?;
    let Some(old) = st.message(chat, id).filter(|m| !m.deleted).cloned() else {
        return Err(bad("Bad Request: message to edit not found"));
    };
    if !old.from_bot {
        return Err(bad("Bad Request: message can't be edited"));
    }
    Ok((chat, old))
}

pub(super) fn edit_media(st: &mut State, p: &Map<String, Value>, files: &[FilePart]) -> ApiResult {
    let (chat, old) = editable(st, p)?;
    let media = match p.get("media") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(bad(
                    "Bad Request: can't parse InputMedia: JSON object expected",
                ))
            }
        },
        _ => return Err(bad("Bad Request: there is no media in the request")),
    };
    if media.get("type").and_then(Value::as_str) != Some("document") {
        // The bot only sends documents; a photo would be another fake's business.
        return Err(bad(
            "Bad Request: can't parse InputMedia: media type is invalid",
        ));
    }
    let f = file_of(
        "media",
        media.get("media"),
        files,
        "Bad Request: there is no media in the request",
    )?;
    let mode = media.get("parse_mode").and_then(Value::as_str);
    let (text, raw) = caption(media.get("caption"), mode)?;
    let markup = check_markup(p)?;
    let Some(old_doc) = old.document.as_ref() else {
        return Err(bad("Bad Request: there is no media in the message to edit"));
    };
    flood_check(st, chat)?;
    if old_doc.bytes == f.bytes && old.raw == raw && old.reply_markup == markup {
        return Err(bad(NOT_MODIFIED));
    }
    let doc = document(st, f);
    let opts = st.opts.clone();
    let Some(m) = st
        .chats
        .get_mut(&chat)
        .and_then(|c| c.get_mut(&old.message_id))
    else {
        return Err(bad("Bad Request: message to edit not found"));
    };
    m.document = Some(doc);
    m.text = text;
    m.raw = raw;
    m.parse_mode = mode.map(str::to_string);
    m.reply_markup = markup;
    m.edits += 1;
    let m = m.clone();
    keep(st, "editMessageMedia", &m);
    Ok(message_json(&opts, &m))
}

pub(super) fn edit_caption(st: &mut State, p: &Map<String, Value>) -> ApiResult {
    let (chat, old) = editable(st, p)?;
    let mode = p.get("parse_mode").and_then(Value::as_str);
    let (text, raw) = caption(p.get("caption"), mode)?;
    let markup = check_markup(p)?;
    if old.document.is_none() {
        return Err(bad(
            "Bad Request: there is no caption in the message to edit",
        ));
    }
    flood_check(st, chat)?;
    if old.raw == raw && old.reply_markup == markup {
        return Err(bad(NOT_MODIFIED));
    }
    let opts = st.opts.clone();
    let Some(m) = st
        .chats
        .get_mut(&chat)
        .and_then(|c| c.get_mut(&old.message_id))
    else {
        return Err(bad("Bad Request: message to edit not found"));
    };
    m.text = text;
    m.raw = raw;
    m.parse_mode = mode.map(str::to_string);
    m.reply_markup = markup;
    m.edits += 1;
    Ok(message_json(&opts, m))
}

#[cfg(test)]
mod tests {
    use teloxide::payloads::{EditMessageCaptionSetters, SendDocumentSetters};
    use teloxide::prelude::*;
    use teloxide::types::{InputFile, InputMedia, InputMediaDocument, MessageId};
    use teloxide::{ApiError, RequestError};

    use super::super::FakeTelegram;
    use super::*;

    fn bot(fake: &FakeTelegram) -> Bot {
        let url = fake.api_url().parse().expect("url");
        Bot::new(fake.token()).set_api_url(url)
    }

    fn file(bytes: &[u8], name: &str) -> InputFile {
        InputFile::memory(bytes.to_vec()).file_name(name.to_string())
    }

    /// teloxide's own multipart (a second client beside walkie's `raw::upload`).
    #[tokio::test]
    async fn documents_upload_edit_and_are_checked_like_telegram() {
        let run = async {
            let fake = FakeTelegram::start().await;
            let bot = bot(&fake);
            fake.send_text(42, "hi");
            let sent = bot
                .send_document(ChatId(42), file(b"\x89PNG one", "a-1.png"))
                .caption("first")
                .await
                .expect("sendDocument parses in teloxide");
            let id = sent.id;
            assert_eq!(sent.caption(), Some("first"));
            assert_eq!(
                sent.document().and_then(|d| d.file_name.as_deref()),
                Some("a-1.png")
            );
            let kept = fake.with(|s| s.uploads.clone());
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].bytes, b"\x89PNG one");
            assert_eq!(kept[0].file_name.as_deref(), Some("a-1.png"));

            // The same file again: not modified; another one: replaced and kept.
            let media = |bytes: &[u8]| {
                InputMedia::Document(
                    InputMediaDocument::new(file(bytes, "a-2.png")).caption("first"),
                )
            };
            let same = bot
                .edit_message_media(ChatId(42), id, media(b"\x89PNG one"))
                .await;
            assert!(
                matches!(same, Err(RequestError::Api(ApiError::MessageNotModified))),
                "{same:?}"
            );
            bot.edit_message_media(ChatId(42), id, media(b"\x89PNG two"))
                .await
                .expect("a new picture");
            assert_eq!(fake.with(|s| s.uploads.len()), 2);
            let m = fake
                .with(|s| s.message(42, i64::from(id.0)).cloned())
                .expect("message");
            assert_eq!(m.document.map(|d| d.bytes), Some(b"\x89PNG two".to_vec()));

            // Captions: 1024 at most; a text edit of a document is refused.
            let long = bot
                .send_document(ChatId(42), file(b"x", "b.png"))
                .caption("c".repeat(MAX_CAPTION_UTF16 + 1))
                .await;
            assert!(
                matches!(&long, Err(RequestError::Api(ApiError::Unknown(t))) if t == CAPTION_TOO_LONG),
                "{long:?}"
            );
            bot.edit_message_caption(ChatId(42), id)
                .caption("done")
                .await
                .expect("caption edit");
            let text = bot.edit_message_text(ChatId(42), id, "text").await;
            assert!(text.is_err(), "{text:?}");
            let empty = bot.send_document(ChatId(42), file(b"", "e.png")).await;
            assert!(empty.is_err(), "{empty:?}");
            let gone = bot
                .edit_message_media(ChatId(42), MessageId(9999), media(b"z"))
                .await;
            assert!(
                matches!(
                    gone,
                    Err(RequestError::Api(ApiError::MessageToEditNotFound))
                ),
                "{gone:?}"
            );

            // Over the bots' 50 MB: 413, and nothing kept.
            let huge = bot
                .send_document(ChatId(42), file(&vec![0u8; MAX_UPLOAD + 1], "big.cast"))
                .await;
            assert!(huge.is_err(), "{huge:?}");
            let big = fake.with(|s| {
                s.calls_to("sendDocument")
                    .last()
                    .map(|c| (c.status, c.response["description"].clone()))
            });
            assert_eq!(big, Some((413, serde_json::json!(TOO_LARGE))));
            assert_eq!(fake.with(|s| s.uploads.len()), 2);
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), run)
            .await
            .expect("test timed out");
    }
}
