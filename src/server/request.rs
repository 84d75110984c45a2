//! The request a handler sees: MicroWebSrv2's `HttpRequest`, in Rust spelling.
//!
//! In scope: read access to the parsed head (offsets into the slot that received it), the body,
//! the route arguments, usrv's parameter binding, and the connection's facts. Nothing here copies a header: every accessor
//! borrows from the slot, and lists are iterators.
//! Out of scope: parsing (the `http` module did it) and answering (see [`Response`](super::Response)).

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use ::http::{Method, Version};
use serde::de::DeserializeOwned;

use crate::http::{self, FormPart, HttpError, Multipart, QualityItem, RequestHead};
use crate::pool::Endpoint;
use crate::proxy::{TrustedProxies, forwarded};
use crate::routing::{Binding, RouteArgs};

/// One request, borrowed from the connection for the duration of a handler call.
pub struct Request<'a> {
    pub(crate) head: &'a RequestHead,
    pub(crate) raw: &'a [u8],
    pub(crate) body: &'a [u8],
    /// The raw path (`head.path(raw)`), taken once: it is read on every request.
    pub(crate) raw_path: &'a str,
    pub(crate) path: Cow<'a, str>,
    pub(crate) origin: Origin,
    pub(crate) args: RouteArgs<'a>,
}

/// Who sent a request: the connection's peer, and the client behind it when the peer is a
/// trusted proxy that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The connection's other end (behind a PROXY protocol header, the proxy).
    pub(crate) peer: Endpoint,
    /// The client: `peer`, or what a trusted proxy's forwarding headers say.
    pub(crate) client: Endpoint,
    /// Whether the client's connection is protected by TLS (here, or to a trusted proxy).
    pub(crate) is_tls: bool,
}

impl Origin {
    /// A request that came straight from `peer`.
    pub(crate) fn direct(peer: Endpoint, is_tls: bool) -> Origin {
        Origin {
            peer,
            client: peer,
            is_tls,
        }
    }

    /// Who is at the other end of a connection from `peer`: the client `proxied_source` when a
    /// PROXY protocol header named one, else `peer` (before any forwarding header is read).
    pub(crate) fn connection(
        peer: Endpoint,
        proxied_source: Option<SocketAddr>,
        is_tls: bool,
    ) -> Origin {
        Origin {
            peer,
            client: proxied_source.map_or(peer, Endpoint::Ip),
            is_tls,
        }
    }

    /// The origin of the request `head` received from `peer`, for the client `proxied_source`
    /// when a PROXY protocol header named one: the forwarding headers are read only when that
    /// client (else `peer`) is one of the `trusted` proxies.
    pub(crate) fn of(
        trusted: &TrustedProxies,
        peer: Endpoint,
        proxied_source: Option<SocketAddr>,
        is_tls: bool,
        head: &RequestHead,
        raw: &[u8],
    ) -> Origin {
        let mut origin = Origin::connection(peer, proxied_source, is_tls);
        if trusted.is_empty() {
            return origin;
        }
        if let Some(said) = forwarded::resolve(trusted, origin.client.ip(), head.headers(raw)) {
            if let Some(client) = said.client {
                origin.client = Endpoint::Ip(client);
            }
            if let Some(https) = said.https {
                origin.is_tls = https;
            }
        }
        origin
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("path", &self.path())
            .field("query", &self.query_string())
            .field("peer", &self.origin.peer)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Request<'a> {
    /// One request, as the connection hands it to a handler; `path` is the decoded
    /// `head.path(raw)` (`None`: decode it here, empty when it does not decode).
    pub(crate) fn new(
        head: &'a RequestHead,
        raw: &'a [u8],
        body: &'a [u8],
        path: Option<Cow<'a, str>>,
        origin: Origin,
        args: RouteArgs<'a>,
    ) -> Request<'a> {
        let raw_path = head.path(raw);
        Request {
            head,
            raw,
            body,
            raw_path,
            path: path.unwrap_or_else(|| http::decode_path(raw_path).unwrap_or_default()),
            origin,
            args,
        }
    }

    /// Returns the client's address (MicroWebSrv2's `UserAddress`): the connection's peer, or,
    /// when the peer is one of [`ServerConfig::trusted_proxies`](crate::ServerConfig::trusted_proxies),
    /// the client its `Forwarded` or `X-Forwarded-For` header names (port 0 when the proxy
    /// gives none), or a PROXY protocol header gave. `Endpoint::Unix` (shown as `unix`) for a
    /// client on a Unix socket.
    #[must_use]
    pub fn user_address(&self) -> Endpoint {
        self.origin.client
    }

    /// Returns the address of the connection's other end, proxy or not (behind a PROXY protocol
    /// header, the proxy's; `Endpoint::Unix` on a Unix socket).
    #[must_use]
    pub fn peer_address(&self) -> Endpoint {
        self.origin.peer
    }

    /// Returns true when the client's connection is protected by TLS: this one, or, behind a
    /// trusted proxy, the client's to the proxy (`Forwarded: proto=https`,
    /// `X-Forwarded-Proto: https`).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.origin.is_tls
    }

    /// MicroWebSrv2's `IsSSL`: [`Request::is_tls`].
    #[deprecated(note = "use `is_tls`")]
    #[must_use]
    pub fn is_ssl(&self) -> bool {
        self.is_tls()
    }

    /// Returns the protocol version as MicroWebSrv2 spelled it: `"1.0"` or `"1.1"`.
    #[must_use]
    pub fn http_ver(&self) -> &'static str {
        if self.head.version() == Version::HTTP_10 {
            "1.0"
        } else {
            "1.1"
        }
    }

    /// Returns the request method.
    #[must_use]
    pub fn method(&self) -> &Method {
        self.head.method()
    }

    /// Returns the percent-decoded path, without the query string.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Returns the raw (still percent-encoded) path, as the client sent it.
    #[must_use]
    pub fn raw_path(&self) -> &'a str {
        self.raw_path
    }

    /// Returns the request-target exactly as the client sent it: path and query, still
    /// percent-encoded (`/a%20b?x=1`), as signatures over a request cover it.
    #[must_use]
    pub fn raw_target(&self) -> &'a str {
        self.head.target(self.raw)
    }

    /// Returns the query string, without its `?` (empty when there is none).
    #[must_use]
    pub fn query_string(&self) -> &'a str {
        self.head.query(self.raw)
    }

    /// Iterates the decoded query parameters in order (`+` is a space).
    pub fn query_params(&self) -> impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)> + 'a {
        http::form_pairs(self.head.query(self.raw).as_bytes())
    }

    /// Returns the first query parameter of that name, decoded.
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<Cow<'a, str>> {
        self.query_params().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Returns the value of a header (case-insensitive name), when present and valid UTF-8.
    #[must_use]
    pub fn get_header(&self, name: &str) -> Option<&'a str> {
        self.head.header_str(self.raw, name)
    }

    /// Iterates every header field as `(name, value bytes)`, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.head.headers(self.raw)
    }

    /// Returns the `Host` header.
    #[must_use]
    pub fn host(&self) -> Option<&'a str> {
        self.head.host(self.raw)
    }

    /// Iterates the `Accept` media types with their quality values.
    pub fn accept(&self) -> impl Iterator<Item = QualityItem<'a>> + 'a {
        http::quality_items(self.get_header("accept").unwrap_or(""))
    }

    /// Iterates the `Accept-Encoding` codings with their quality values.
    pub fn accept_encodings(&self) -> impl Iterator<Item = QualityItem<'a>> + 'a {
        http::quality_items(self.get_header("accept-encoding").unwrap_or(""))
    }

    /// Iterates the `Accept-Language` tags with their quality values.
    pub fn accept_languages(&self) -> impl Iterator<Item = QualityItem<'a>> + 'a {
        http::quality_items(self.get_header("accept-language").unwrap_or(""))
    }

    /// Iterates the cookies sent with the request as `(name, value)`.
    pub fn cookies(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        http::cookies(self.get_header("cookie").unwrap_or(""))
    }

    /// Returns the value of one cookie.
    #[must_use]
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Returns the `Cache-Control` header.
    #[must_use]
    pub fn cache_control(&self) -> Option<&'a str> {
        self.get_header("cache-control")
    }

    /// Returns the `Referer` header.
    #[must_use]
    pub fn referer(&self) -> Option<&'a str> {
        self.get_header("referer")
    }

    /// Returns the `Content-Type` header.
    #[must_use]
    pub fn content_type(&self) -> Option<&'a str> {
        self.get_header("content-type")
    }

    /// Returns the declared `Content-Length` (none for a chunked body).
    #[must_use]
    pub fn content_length(&self) -> Option<u64> {
        self.head.content_length()
    }

    /// Returns the `User-Agent` header.
    #[must_use]
    pub fn user_agent(&self) -> Option<&'a str> {
        self.get_header("user-agent")
    }

    /// Returns the `Authorization` header.
    #[must_use]
    pub fn authorization(&self) -> Option<&'a str> {
        self.get_header("authorization")
    }

    /// Returns the `Origin` header.
    #[must_use]
    pub fn origin(&self) -> Option<&'a str> {
        self.get_header("origin")
    }

    /// Returns true when the client asked to keep the connection open.
    #[must_use]
    pub fn is_keep_alive(&self) -> bool {
        self.head.is_keep_alive()
    }

    /// Returns true when the client asked to upgrade the connection (`Connection: upgrade`).
    #[must_use]
    pub fn is_upgrade(&self) -> bool {
        self.head.is_upgrade()
    }

    /// Returns the `Upgrade` header.
    #[must_use]
    pub fn upgrade(&self) -> Option<&'a str> {
        self.head.upgrade(self.raw)
    }

    /// Returns the request body (empty when there is none).
    #[must_use]
    pub fn content(&self) -> &'a [u8] {
        self.body
    }

    /// Returns the name/value pairs of an `application/x-www-form-urlencoded` body, or `None`
    /// when the body is of another type.
    #[must_use]
    pub fn get_posted_url_encoded_form(&self) -> Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
        let ct = self.content_type()?;
        if !http::media_type(ct).eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return None;
        }
        Some(http::form_pairs(self.body).collect())
    }

    /// Returns the body parsed as JSON into `T`, or `None` when it is not JSON or does not fit `T`.
    #[must_use]
    pub fn get_posted_json_object<T: DeserializeOwned>(&self) -> Option<T> {
        let ct = self.content_type()?;
        let media = http::media_type(ct);
        if !(media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")) {
            return None;
        }
        serde_json::from_slice(self.body).ok()
    }

    /// Returns the parts of a `multipart/form-data` body.
    ///
    /// # Errors
    /// `HttpError::InvalidMultipart` when the body is not multipart or is malformed.
    pub fn multipart_parts(&self) -> Result<Vec<FormPart<'a>>, HttpError> {
        let ct = self.content_type().ok_or(HttpError::InvalidMultipart)?;
        let boundary = http::multipart_boundary(ct)?;
        Multipart::new(self.body, boundary).collect()
    }

    /// Checks Basic credentials in constant time.
    #[must_use]
    pub fn check_basic_auth(&self, username: &str, password: &str) -> bool {
        self.head
            .header(self.raw, "authorization")
            .is_some_and(|h| http::check_basic_auth(h, username, password))
    }

    /// Checks a Bearer token in constant time.
    #[must_use]
    pub fn check_bearer_auth(&self, token: &str) -> bool {
        self.head
            .header(self.raw, "authorization")
            .is_some_and(|h| http::check_bearer_auth(h, token))
    }

    /// Returns the route arguments (empty when no route matched).
    #[must_use]
    pub fn args(&self) -> &RouteArgs<'a> {
        &self.args
    }

    /// Returns usrv's merged parameter view: the route arguments, then the query values the
    /// route does not name (see [`Binding`]).
    ///
    /// On a name collision the PATH value wins and the query value is dropped, as usrv 0.4
    /// does: `/users/<int:id>` requested as `/users/5?id=6` binds `id` = 5. Query values are
    /// strings ([`Binding::int`] and [`Binding::float`] parse them); when a name repeats in the
    /// query, the last value wins. The query values the route does not name are also in
    /// [`Binding::extras`]; [`Request::extras`] adds the method, headers and body to them.
    ///
    /// # Examples
    ///
    /// ```
    /// use microweb::{Method, StatusCode, TestRequest};
    ///
    /// let response = TestRequest::new(Method::GET, "/users/5?id=6&page=2")
    ///     .route("/users/<int:id>")
    ///     .run(|req, _resp| {
    ///         let p = req.params();
    ///         assert_eq!(p.int("id"), Some(5)); // the path wins over ?id=6
    ///         assert_eq!(p.int("page"), Some(2));
    ///         assert_eq!(p.extras().get("page").map(String::as_str), Some("2"));
    ///         assert!(p.extras().get("id").is_none());
    ///     });
    /// assert_eq!(response.status(), StatusCode::NO_CONTENT);
    /// ```
    #[must_use]
    pub fn params(&self) -> Binding {
        Binding::new(&self.args, self.query_params())
    }

    /// Returns usrv's `**kwargs`: the query values the route does not name, plus `"method"`
    /// (a string), `"headers"` (an object, names lowercased, values as text; a repeated header
    /// keeps its last value) and `"data"` (the body: the parsed JSON when the `Content-Type` is
    /// JSON and the body parses, else the text when it is UTF-8, else `null`; `null` when there
    /// is no body), as usrv spells them.
    ///
    /// The three context names win over query values of the same names (a query value named
    /// `method` is still in [`Request::params`]).
    #[must_use]
    pub fn extras(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut map: serde_json::Map<String, Value> = self
            .params()
            .extras()
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let headers: serde_json::Map<String, Value> = self
            .headers()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v).into_owned();
                (n.to_ascii_lowercase(), Value::String(value))
            })
            .collect();
        let data = if self.body.is_empty() {
            Value::Null
        } else if let Some(json) = self.get_posted_json_object::<Value>() {
            json
        } else {
            std::str::from_utf8(self.body).map_or(Value::Null, |s| Value::String(s.to_owned()))
        };
        map.insert(
            "method".to_owned(),
            Value::String(self.method().to_string()),
        );
        map.insert("headers".to_owned(), Value::Object(headers));
        map.insert("data".to_owned(), data);
        map
    }

    /// Returns the request as a JSON object, as templates see it under `request`: method, path,
    /// query, headers, cookies, user_address and is_tls.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers()
            .map(|(n, v)| {
                (
                    n.to_ascii_lowercase(),
                    serde_json::Value::String(String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        let query: serde_json::Map<String, serde_json::Value> = self
            .query_params()
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
        let cookies: serde_json::Map<String, serde_json::Value> = self
            .cookies()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
            .collect();
        serde_json::json!({
            "method": self.method().as_str(),
            "path": self.path(),
            "query_string": self.query_string(),
            "query": query,
            "headers": headers,
            "cookies": cookies,
            "user_address": self.origin.client.to_string(),
            "peer_address": self.origin.peer.to_string(),
            "is_ssl": self.origin.is_tls,
        })
    }
}
