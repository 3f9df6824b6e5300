//! `Range` / `Next-Range` paging of list endpoints, as Heroku's API does it.

use serde_json::Value;

use super::api::{Answer, ApiError};
use crate::server::Request;

const DEFAULT_PAGE: usize = 200;
const MAX_PAGE: usize = 1000;

/// Applies a `Range` header (`<field> [[]start]..[end][; max=N[, order=asc|desc]]`) to a
/// list: 200 when everything fits, else 206 with `Next-Range`. An end bound after a start is
/// accepted and ignored; an end-only range (`..5`) is refused, as Heroku does since 2013.
pub fn paginate(
    mut items: Vec<Value>,
    req: &Request,
    fields: &[&str],
    default_field: &str,
) -> Result<Answer, ApiError> {
    let bad_range = || {
        ApiError::new(
            416,
            "requested_range_not_satisfiable",
            format!(
                "Range header is invalid. Use `<field> <first>..; max=<n>, order=<asc|desc>` with a field in: {}.",
                fields.join(", ")
            ),
        )
    };
    let mut field = default_field.to_string();
    let mut start: Option<(String, bool)> = None;
    let mut max = DEFAULT_PAGE;
    let mut desc = false;
    if let Some(range) = req.header("Range").map(str::trim).filter(|r| !r.is_empty()) {
        let mut params = range.split([';', ',']).map(str::trim);
        let spec = params.next().unwrap_or("");
        let (name, bounds) = spec.split_once(' ').unwrap_or((spec, ".."));
        if !fields.contains(&name) {
            return Err(bad_range());
        }
        field = name.to_string();
        let bounds = bounds.trim();
        let Some((first, last)) = bounds.split_once("..") else {
            return Err(bad_range());
        };
        if !last.trim().is_empty() && first.trim().is_empty() {
            return Err(bad_range());
        }
        let first = first.trim();
        if !first.is_empty() {
            start = Some(match first.strip_prefix(']') {
                Some(v) => (v.to_string(), true),
                None => (first.to_string(), false),
            });
        }
        for param in params.filter(|p| !p.is_empty()) {
            match param.split_once('=') {
                Some(("max", n)) => {
                    max = n.trim().parse().map_err(|_| bad_range())?;
                    if max == 0 {
                        return Err(bad_range());
                    }
                    max = max.min(MAX_PAGE);
                }
                Some(("order", "asc")) => desc = false,
                Some(("order", "desc")) => desc = true,
                _ => return Err(bad_range()),
            }
        }
    }
    let key = |v: &Value| -> (i64, String) {
        match v.get(&field) {
            Some(Value::Number(n)) => (n.as_i64().unwrap_or(0), String::new()),
            Some(Value::String(s)) => (0, s.clone()),
            _ => (0, String::new()),
        }
    };
    items.sort_by_key(key);
    if desc {
        items.reverse();
    }
    if let Some((value, exclusive)) = &start {
        let bound = match value.parse::<i64>() {
            Ok(n) if field == "version" => (n, String::new()),
            _ => (0, value.clone()),
        };
        items.retain(|v| {
            let k = key(v);
            match (desc, exclusive) {
                (false, false) => k >= bound,
                (false, true) => k > bound,
                (true, false) => k <= bound,
                (true, true) => k < bound,
            }
        });
    }
    let truncated = items.len() > max;
    items.truncate(max);
    let mut headers = vec![("Accept-Ranges".to_string(), fields.join(", "))];
    let render = |v: &Value| match v.get(&field) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        headers.push((
            "Content-Range".into(),
            format!("{field} {}..{}", render(first), render(last)),
        ));
    }
    let status = if truncated {
        let last = items.last().map(render).unwrap_or_default();
        let order = if desc { ", order=desc" } else { "" };
        headers.push((
            "Next-Range".into(),
            format!("{field} ]{last}..; max={max}{order}"),
        ));
        206
    } else {
        200
    };
    Ok(Answer {
        status,
        body: Value::Array(items),
        headers,
    })
}
