//! The S3 stand-in behind `POST /sources`: pre-signed blob URLs and the rules S3 applies to
//! Heroku's source uploads (exact `Content-Length`, no chunked body, no `Content-Type`, no
//! `Authorization`), answered with S3's XML errors.

use super::model::State;
use crate::server::{Request, Response};
use crate::util::{sha256_hex, uuid};

pub fn s3_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{}</RequestId><HostId>sandbox</HostId></Error>",
        &uuid().replace('-', "")[..16].to_uppercase()
    );
    Response::new(status, "application/xml", body)
}

/// `PUT`/`GET` on a pre-signed blob URL, with the rules S3 applies to Heroku's source URLs.
pub fn blob(state: &mut State, req: &Request) -> Response {
    let id = req.path.trim_start_matches("/blobs/").to_string();
    let method = match req.method.as_str() {
        "PUT" => "PUT",
        "GET" => "GET",
        _ => {
            return s3_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
        }
    };
    if method == "PUT" {
        if req
            .header("Transfer-Encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            return s3_error(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented (Transfer-Encoding).",
            );
        }
        if req.header("Content-Length").is_none() {
            return s3_error(
                411,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            );
        }
    }
    if req.header("Authorization").is_some() {
        return s3_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        );
    }
    if method == "PUT"
        && req
            .header("Content-Type")
            .is_some_and(|t| !t.trim().is_empty())
    {
        return s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        );
    }
    if req.query_param("X-Amz-Signature") != Some(state.blob_signature(method, &id).as_str()) {
        return s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        );
    }
    let Some(blob) = state.blobs.iter_mut().find(|b| b.id == id) else {
        return s3_error(404, "NoSuchKey", "The specified key does not exist.");
    };
    if method == "PUT" {
        let etag = format!("\"{}\"", &sha256_hex(&req.body)[..32]);
        blob.data = Some(req.body.clone());
        return Response::empty(200).with_header("ETag", etag);
    }
    match &blob.data {
        Some(data) => Response::new(200, "application/octet-stream", data.clone()),
        None => s3_error(404, "NoSuchKey", "The specified key does not exist."),
    }
}
