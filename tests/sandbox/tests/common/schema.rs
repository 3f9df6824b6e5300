//! One walker for the services' own descriptions of their APIs (Heroku's JSON hyper-schema,
//! CircleCI's and GitHub's OpenAPI 3.0), so that the sandbox's answers are held to the same
//! reading of `$ref`, types, `enum`, formats, `anyOf`/`oneOf`/`allOf`, `required`, properties
//! and items whichever service gave them; what differs between the descriptions is a
//! [`Dialect`], said once per service.

use std::path::PathBuf;

use serde_json::Value;

/// A format (`uuid`, `date-time`, ...) and the test a string of it must pass.
pub type Format<'a> = (&'a str, fn(&str) -> bool);

/// What sets one service's description apart, and the rules of ours on top of it.
#[derive(Clone, Copy)]
pub struct Dialect<'a> {
    /// The keywords that make a schema accept null (OpenAPI 3.0 `nullable`, Swagger's
    /// `x-nullable`); empty where null is a type like any other (JSON hyper-schema).
    pub nullable: &'a [&'a str],
    /// Properties allowed to be null despite the description, where the real service is
    /// known to send null.
    pub null_allowed: &'a [&'a str],
    /// Every listed property must be present (nullable ones may be null): the "complete
    /// shape" rule for answers of a service whose clients rely on it.
    pub complete: bool,
    /// Honour `additionalProperties` (false, or a schema for the others).
    pub additional_properties: bool,
    /// The formats checked, each with its test; others pass.
    pub formats: &'a [Format<'a>],
    /// `$ref`s known to dangle in the description (parts of them): the value is not checked.
    pub dangling: &'a [&'a str],
}

/// Validates values against the schemas of one description.
pub struct Validator<'a> {
    /// The whole description, where `$ref`s point.
    pub root: &'a Value,
    /// How to read it.
    pub dialect: Dialect<'a>,
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

impl Validator<'_> {
    fn try_resolve<'s>(&'s self, schema: &'s Value) -> Result<Option<&'s Value>, String> {
        let mut current = schema;
        for _ in 0..32 {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return Ok(Some(current));
            };
            let pointer = reference
                .strip_prefix('#')
                .ok_or_else(|| format!("external $ref {reference}"))?;
            match self.root.pointer(pointer) {
                Some(target) => current = target,
                None if self.dialect.dangling.iter().any(|d| reference.contains(d)) => {
                    return Ok(None)
                }
                None => return Err(format!("dangling $ref {reference}")),
            }
        }
        Err("$ref loop".into())
    }

    /// The schema `schema` stands for, following `$ref`s; panics on one that cannot be
    /// followed, since the description itself is then not what the test expects.
    pub fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match self.try_resolve(schema) {
            Ok(Some(schema)) => schema,
            Ok(None) => panic!("a known dangling $ref in {schema}"),
            Err(e) => panic!("{e}"),
        }
    }

    /// Every way `value` breaks `schema`, each naming where (`body.id`, ...).
    pub fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate(schema, value, "body", &mut errors);
        errors
    }

    /// Adds to `errors` every way `value`, found at `at`, breaks `schema`.
    pub fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = match self.try_resolve(schema) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                errors.push(format!("{at}: {e}"));
                return;
            }
        };
        if value.is_null() && !self.dialect.nullable.is_empty() {
            let nullable = self
                .dialect
                .nullable
                .iter()
                .any(|k| schema.get(*k) == Some(&Value::Bool(true)));
            let field = at.rsplit('.').next().unwrap_or_default();
            if !nullable && !self.dialect.null_allowed.contains(&field) {
                errors.push(format!("{at}: null, but not nullable"));
            }
            return;
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.validate(part, value, at, errors);
            }
        }
        for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
                let passing = options
                    .iter()
                    .filter(|option| {
                        let mut sub = Vec::new();
                        self.validate(option, value, at, &mut sub);
                        sub.is_empty()
                    })
                    .count();
                if passing == 0 || (exactly_one && passing > 1) {
                    errors.push(format!(
                        "{at}: matches {passing} of the {keyword} options: {value}"
                    ));
                }
            }
        }
        if let Some(types) = schema.get("type") {
            let names: Vec<&str> = match types {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !names.iter().any(|t| type_matches(t, value)) {
                errors.push(format!(
                    "{at}: expected {}, got {value}",
                    names.join(" or ")
                ));
                return;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                errors.push(format!("{at}: {value} is not one of {options:?}"));
            }
        }
        if let (Some(format), Some(text)) =
            (schema.get("format").and_then(Value::as_str), value.as_str())
        {
            let check = self
                .dialect
                .formats
                .iter()
                .find(|(name, _)| *name == format);
            if check.is_some_and(|(_, ok)| !ok(text)) {
                errors.push(format!("{at}: {text:?} is not a {format}"));
            }
        }
        if let Some(object) = value.as_object() {
            self.validate_object(schema, object, at, errors);
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    fn validate_object(
        &self,
        schema: &Value,
        object: &serde_json::Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                errors.push(format!("{at}: missing required property {name:?}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, property) in properties.into_iter().flatten() {
            match object.get(name) {
                Some(v) => self.validate(property, v, &format!("{at}.{name}"), errors),
                None if self.dialect.complete => {
                    errors.push(format!("{at}: missing property {name:?}"))
                }
                None => {}
            }
        }
        if !self.dialect.additional_properties {
            return;
        }
        for (name, v) in object {
            if properties.is_some_and(|p| p.contains_key(name)) {
                continue;
            }
            let here = format!("{at}.{name}");
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    errors.push(format!("{here}: not allowed (additionalProperties: false)"))
                }
                Some(extra @ Value::Object(_)) => self.validate(extra, v, &here, errors),
                _ => {}
            }
        }
    }
}

/// A service's published description: at `$<variable>` when set, else at `default` (a path
/// relative to the sandbox crate). `None`, said on stderr, when it cannot be read, except
/// under `CI=true`, where the check must run: a skip there would be a test that cannot fail.
pub fn load_description(what: &str, variable: &str, default: &str) -> Option<Value> {
    let path = match std::env::var_os(variable) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(default),
    };
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("the description is JSON")),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{what} cannot be checked under CI=true: cannot read {} ({e}); set {variable} to its path",
            path.display()
        ),
        Err(e) => {
            eprintln!(
                "SKIPPED: {what} not checked: cannot read {} ({e}); set {variable} to its path",
                path.display()
            );
            None
        }
    }
}

/// The `uri` format: an absolute URI (a scheme, then no whitespace).
pub fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The `email` format, as far as cheaply checkable: `local@domain`.
pub fn is_email(s: &str) -> bool {
    s.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !s.contains(char::is_whitespace))
}
