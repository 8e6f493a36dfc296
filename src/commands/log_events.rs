//! CloudWatch Logs events as `logs` and `run` show them: durations and
//! times on the command line (`30s`, `10m`, `2h`, `1d`, RFC 3339), one
//! paginated `FilterLogEvents` per fetch, a [`Tail`] that polls from the
//! last event's timestamp and drops the events it has already printed, and
//! the rendering: `TIME STREAM MESSAGE`, the API's JSON lines (see
//! `container/app/logs.py`) made readable.

use crate::aws::{AwsError, AwsResultExt};
use crate::ops::Error;
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

const DURATION_HINT: &str = "a number and a unit: 30s, 10m, 2h or 1d";

/// `30s`, `10m`, `2h`, `1d` (a positive whole number and one unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let secs_per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let n: u64 = s[..s.len() - 1].parse().ok()?;
    if n == 0 || n > 3650 * 86_400 / secs_per {
        return None;
    }
    Some(Duration::from_secs(n * secs_per))
}

/// A duration flag, or a usage error naming the flag.
pub fn duration_flag(flag: &str, value: &str) -> Result<Duration, Error> {
    parse_duration(value).ok_or_else(|| {
        Error::Usage(format!(
            "invalid --{flag} {value:?}: not a duration\n  hint: {DURATION_HINT}"
        ))
    })
}

/// `--since`: a duration back from `now_ms`, or an RFC 3339 time (any
/// offset); epoch milliseconds.
pub fn parse_since(value: &str, now_ms: i64) -> Result<i64, Error> {
    if let Some(d) = parse_duration(value) {
        return Ok(now_ms - d.as_millis() as i64);
    }
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from_str(value.trim(), Format::DateTimeWithOffset)
        .ok()
        .and_then(|t| t.to_millis().ok())
        .ok_or_else(|| {
            Error::Usage(format!(
                "invalid --since {value:?}: neither a duration nor an RFC 3339 time\n  hint: {DURATION_HINT} back from now, or a time such as 2026-01-31T09:30:00Z"
            ))
        })
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Epoch milliseconds as `2026-01-31T09:30:00.123Z` (UTC, fixed width).
pub fn fmt_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One log event, as `logs` and `run` print it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub id: String,
    pub timestamp: i64,
    pub stream: String,
    pub message: String,
}

impl LogEvent {
    /// What tells events apart: the event id within its stream (moto
    /// numbers events per stream; AWS's ids are unique anyway).
    fn key(&self) -> String {
        format!("{}\0{}", self.stream, self.id)
    }
}

impl From<&FilteredLogEvent> for LogEvent {
    fn from(e: &FilteredLogEvent) -> Self {
        LogEvent {
            id: e.event_id().unwrap_or_default().to_owned(),
            timestamp: e.timestamp().unwrap_or(0),
            stream: e.log_stream_name().unwrap_or_default().to_owned(),
            message: e.message().unwrap_or_default().trim_end().to_owned(),
        }
    }
}

/// A value of a `k=v` pair: bare when it is a plain word, JSON otherwise.
fn kv_value(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || "\"=".contains(c)) => s.clone(),
        other => other.to_string(),
    }
}

/// An API JSON line (`{"timestamp", "level", "logger", "message", ...}`)
/// as `LEVEL message request_id=... k=v ...`; `None` for anything else.
pub fn readable(message: &str) -> Option<String> {
    let t = message.trim();
    if !t.starts_with('{') {
        return None;
    }
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(t) else {
        return None;
    };
    if !m.contains_key("message") && !m.contains_key("level") {
        return None;
    }
    let text = |k: &str| match m.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let mut out = format!("{:<5} {}", text("level"), text("message"));
    if let Some(rid) = m.get("request_id").filter(|v| !v.is_null()) {
        out.push_str(&format!(" request_id={}", kv_value(rid)));
    }
    for (k, v) in &m {
        if ["timestamp", "level", "message", "request_id"].contains(&k.as_str()) || v.is_null() {
            continue;
        }
        out.push_str(&format!(" {k}={}", kv_value(v)));
    }
    Some(out)
}

/// `TIME STREAM MESSAGE`, with JSON lines made readable.
pub fn render(e: &LogEvent) -> String {
    let msg = readable(&e.message).unwrap_or_else(|| e.message.clone());
    format!("{} {} {msg}", fmt_millis(e.timestamp), e.stream)
}

/// The event as one JSON object (`--json`): the raw message, and its
/// fields when it is a JSON line.
pub fn to_json(e: &LogEvent) -> Value {
    let fields = serde_json::from_str::<Value>(e.message.trim())
        .ok()
        .filter(Value::is_object);
    let mut v = json!({
        "time": fmt_millis(e.timestamp),
        "timestamp": e.timestamp,
        "stream": e.stream,
        "event_id": e.id,
        "message": e.message,
    });
    if let Some(f) = fields {
        v["fields"] = f;
    }
    v
}

/// Prints events, one a line (text or JSON); a closed stdout is not an error.
pub fn print(out: &mut impl Write, events: &[LogEvent], json: bool) {
    for e in events {
        let line = if json { to_json(e).to_string() } else { render(e) };
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// What to read: a group, optionally some of its streams, from a time on,
/// matching a filter pattern. Each [`Tail::fetch`] returns only events it
/// has not returned before, oldest first.
#[derive(Debug, Clone)]
pub struct Tail {
    pub group: String,
    pub streams: Vec<String>,
    pub filter: Option<String>,
    /// The next fetch starts here (inclusive): the newest timestamp seen.
    pub start: i64,
    /// Events already returned (by stream and id) whose timestamp is at or
    /// after `start`: the only ones a fetch from `start` can return again.
    seen: HashMap<String, i64>,
}

impl Tail {
    pub fn new(group: impl Into<String>, start: i64) -> Self {
        Tail {
            group: group.into(),
            streams: Vec::new(),
            filter: None,
            start,
            seen: HashMap::new(),
        }
    }

    /// All events from `start` on (every page), sorted oldest first, minus
    /// the ones returned before. A group or stream that does not exist yet
    /// gives no events when `missing_ok`.
    pub async fn fetch(
        &mut self,
        logs: &aws_sdk_cloudwatchlogs::Client,
        missing_ok: bool,
    ) -> Result<Vec<LogEvent>, AwsError> {
        let mut req = logs
            .filter_log_events()
            .log_group_name(&self.group)
            .start_time(self.start)
            .set_filter_pattern(self.filter.clone());
        if !self.streams.is_empty() {
            req = req.set_log_stream_names(Some(self.streams.clone()));
        }
        let pages: Result<Vec<_>, _> = req.into_paginator().send().collect().await;
        let pages = match pages.aws("FilterLogEvents") {
            Err(e) if missing_ok && e.code_is("ResourceNotFoundException") => return Ok(Vec::new()),
            r => r?,
        };
        let mut events: Vec<LogEvent> = pages
            .iter()
            .flat_map(|p| p.events())
            .map(LogEvent::from)
            .filter(|e| !self.seen.contains_key(&e.key()))
            .collect();
        events.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
        events.dedup_by(|a, b| a.key() == b.key());
        if let Some(newest) = events.last().map(|e| e.timestamp) {
            self.start = self.start.max(newest);
        }
        for e in &events {
            self.seen.insert(e.key(), e.timestamp);
        }
        let start = self.start;
        self.seen.retain(|_, ts| *ts >= start);
        Ok(events)
    }
}

/// The live tail's pause between polls: 1 s after new events, doubling
/// while there are none, at most 5 s.
pub const FOLLOW_FIRST: Duration = Duration::from_secs(1);
pub const FOLLOW_MAX: Duration = Duration::from_secs(5);

/// Polls `tail` and prints what is new until `stop` resolves (Ctrl-C).
pub async fn follow(
    logs: &aws_sdk_cloudwatchlogs::Client,
    tail: &mut Tail,
    out: &mut impl Write,
    json: bool,
    stop: impl Future<Output = ()>,
) -> Result<(), AwsError> {
    tokio::pin!(stop);
    let mut delay = FOLLOW_FIRST;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
        let events = tokio::select! {
            _ = &mut stop => return Ok(()),
            r = tail.fetch(logs, true) => r?,
        };
        if events.is_empty() {
            delay = (delay * 2).min(FOLLOW_MAX);
        } else {
            print(out, &events, json);
            delay = FOLLOW_FIRST;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::{FilterLogEventsInput, FilterLogEventsOutput};
    use aws_smithy_mocks::mock;
    use std::sync::{Arc, Mutex};

    #[test]
    fn durations_and_times_on_the_command_line() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        for bad in ["", "m", "0s", "-1m", "1.5h", "10", "10w", "1 m", "99999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let now = 1_800_000_000_000;
        assert_eq!(parse_since("10m", now).unwrap(), now - 600_000);
        assert_eq!(parse_since("2026-01-31T09:30:00Z", now).unwrap(), 1_769_851_800_000);
        assert_eq!(
            parse_since("2026-01-31T19:30:00+10:00", now).unwrap(),
            1_769_851_800_000
        );
        let e = parse_since("yesterday", now).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("hint:"), "{e}");
        assert_eq!(duration_flag("timeout", "5").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn times_print_in_utc_with_milliseconds() {
        assert_eq!(fmt_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt_millis(1_769_851_800_123), "2026-01-31T09:30:00.123Z");
        assert_eq!(fmt_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn json_lines_print_level_message_request_id_then_fields() {
        let line = r#"{"timestamp": "2026-01-31T09:30:00.123+00:00", "level": "INFO", "logger": "app.access", "message": "request", "pid": 7, "request_id": "abc123", "method": "GET", "path": "/api/products", "status": 200, "duration_ms": null, "user_agent": "curl/8.5 (x)"}"#;
        let out = readable(line).unwrap();
        assert_eq!(
            out,
            r#"INFO  request request_id=abc123 logger=app.access pid=7 method=GET path=/api/products status=200 user_agent="curl/8.5 (x)""#
        );
        assert!(!out.contains('{'), "{out}");
        assert_eq!(readable("plain text"), None);
        assert_eq!(readable(r#"{"not": "ours"}"#), None);
        assert_eq!(readable("{broken"), None);
        let e = LogEvent {
            id: "1".into(),
            timestamp: 1_769_851_800_123,
            stream: "app/app/0a1b".into(),
            message: "hello\n".trim_end().into(),
        };
        assert_eq!(render(&e), "2026-01-31T09:30:00.123Z app/app/0a1b hello");
        assert_eq!(to_json(&e)["message"], "hello");
    }

    fn event(id: &str, ts: i64) -> FilteredLogEvent {
        FilteredLogEvent::builder()
            .event_id(id)
            .timestamp(ts)
            .log_stream_name("app/app/t1")
            .message(format!("line {id}"))
            .build()
    }

    fn mocked_logs(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_cloudwatchlogs::Client {
        crate::testing::mocked_client!(aws_sdk_cloudwatchlogs, rules)
    }

    #[tokio::test(start_paused = true)]
    async fn follow_prints_each_event_once_and_backs_off_from_1_to_5_seconds() {
        let t0 = tokio::time::Instant::now();
        let calls: Arc<Mutex<Vec<(Duration, i64)>>> = Arc::default();
        let record = |calls: &Arc<Mutex<Vec<(Duration, i64)>>>| {
            let calls = calls.clone();
            move |req: &FilterLogEventsInput| {
                calls
                    .lock()
                    .unwrap()
                    .push((t0.elapsed(), req.start_time().unwrap_or(-1)));
                true
            }
        };
        let out = |events: Vec<FilteredLogEvent>| {
            move || {
                FilterLogEventsOutput::builder()
                    .set_events(Some(events.clone()))
                    .build()
            }
        };
        // Poll 1: two events. Poll 2: the newest again (same timestamp, the
        // start is inclusive) and a new one. Polls 3-6: nothing. Poll 7: one more.
        let rule = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
            .match_requests(record(&calls))
            .sequence()
            .output(out(vec![event("e1", 1000), event("e2", 2000)]))
            .output(out(vec![event("e2", 2000), event("e3", 2000)]))
            .output(out(vec![event("e3", 2000)]))
            .times(4)
            .output(out(vec![event("e3", 2000), event("e4", 9000)]))
            .output(out(vec![]))
            .repeatedly()
            .build();
        let logs = mocked_logs(&[&rule]);
        let mut tail = Tail::new("/provision/dev1/app", 500);
        let mut buf = Vec::new();
        follow(
            &logs,
            &mut tail,
            &mut buf,
            false,
            tokio::time::sleep(Duration::from_secs(30)),
        )
        .await
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        for (line, id) in lines.iter().zip(["e1", "e2", "e3", "e4"]) {
            assert!(line.ends_with(&format!("line {id}")), "{line}");
        }
        let calls = calls.lock().unwrap().clone();
        let at: Vec<u64> = calls.iter().map(|(d, _)| d.as_secs()).collect();
        // 1 s before the first poll; 1 s after each poll with news; then 2, 4, 5, 5.
        assert_eq!(&at[..8], &[1, 2, 3, 5, 9, 14, 19, 20], "{calls:?}");
        let starts: Vec<i64> = calls.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            &starts[..8],
            &[500, 2000, 2000, 2000, 2000, 2000, 2000, 9000],
            "{calls:?}"
        );
        assert!(at.iter().all(|&s| s <= 30), "stopped at the deadline: {at:?}");
    }

    #[tokio::test]
    async fn a_group_that_is_not_there_yet_is_no_events_only_when_allowed() {
        use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError;
        use aws_sdk_cloudwatchlogs::types::error::ResourceNotFoundException;
        let rule = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events).then_error(|| {
            let meta = aws_smithy_types::error::ErrorMetadata::builder()
                .code("ResourceNotFoundException")
                .message("The specified log group does not exist.")
                .build();
            FilterLogEventsError::ResourceNotFoundException(ResourceNotFoundException::builder().meta(meta).build())
        });
        let logs = mocked_logs(&[&rule]);
        let mut tail = Tail::new("/nope", 0);
        assert!(tail.fetch(&logs, true).await.unwrap().is_empty());
        assert!(tail.fetch(&logs, false).await.is_err());
    }
}
