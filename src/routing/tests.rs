//! Unit tests of the routing core: resolution table, priority, encoding, trailing slash,
//! methods, errors, path building, binding, and the resolve ∘ build round trip.

use std::borrow::Cow;

use http::Method;
use proptest::prelude::*;

use super::*;

/// What a resolution looked like, in a form a table can state.
#[derive(Debug, PartialEq)]
enum Got {
    Found(&'static str, Vec<(String, ArgValue<'static>)>),
    NotAllowed(String),
    NotFound,
}

fn router() -> Router<&'static str> {
    let mut r = Router::new();
    let routes: &[(Method, &str, &'static str)] = &[
        (Method::GET, "/", "root"),
        (Method::GET, "/users", "users"),
        (Method::POST, "/users", "create_user"),
        (Method::GET, "/users/me", "me"),
        (Method::GET, "/users/<id>", "user"),
        (Method::DELETE, "/users/<id>", "delete_user"),
        (Method::GET, "/users/<id>/profile/<property>", "profile"),
        (Method::GET, "/users/<id>/me/x", "user_me_x"),
        (Method::GET, "/items/<int:id>", "item_int"),
        (Method::GET, "/items/<float:price>", "item_float"),
        (Method::GET, "/items/<uuid:key>", "item_uuid"),
        (Method::GET, "/items/<str:slug>", "item_str"),
        (Method::GET, "/files/<path:file>", "file"),
        (Method::GET, "/files/readme", "readme"),
        (Method::GET, "/café/<str:x>", "cafe"),
        (Method::HEAD, "/head-only", "head_only"),
    ];
    for (m, p, h) in routes {
        r.add(m.clone(), p, Some(h), *h).unwrap();
    }
    r
}

fn got(r: &Router<&'static str>, method: Method, path: &str) -> Got {
    match r.resolve(&method, path) {
        Resolution::Found(m) => Got::Found(
            m.handler,
            m.args
                .iter()
                .map(|(k, v)| (k.to_owned(), v.into_owned()))
                .collect(),
        ),
        Resolution::MethodNotAllowed { allow } => Got::NotAllowed(allow.to_string()),
        Resolution::NotFound => Got::NotFound,
    }
}

fn found(h: &'static str, args: &[(&str, ArgValue<'static>)]) -> Got {
    Got::Found(
        h,
        args.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn s(v: &str) -> ArgValue<'static> {
    ArgValue::Str(Cow::Owned(v.to_owned()))
}

#[test]
fn resolves_the_table_of_patterns_and_paths() {
    let r = router();
    let int = ArgValue::Int;
    let cases: Vec<(Method, &str, Got)> = vec![
        (Method::GET, "/", found("root", &[])),
        (Method::GET, "/users", found("users", &[])),
        (Method::POST, "/users", found("create_user", &[])),
        (Method::GET, "/users/42", found("user", &[("id", int(42))])),
        (Method::GET, "/users/-7", found("user", &[("id", int(-7))])),
        // MicroWebSrv2 turns any integer-looking value into an integer.
        (Method::GET, "/users/007", found("user", &[("id", int(7))])),
        (
            Method::GET,
            "/users/bob",
            found("user", &[("id", s("bob"))]),
        ),
        (Method::GET, "/users/+5", found("user", &[("id", s("+5"))])),
        (
            Method::GET,
            "/users/99999999999999999999",
            found("user", &[("id", s("99999999999999999999"))]),
        ),
        (
            Method::DELETE,
            "/users/3",
            found("delete_user", &[("id", int(3))]),
        ),
        (
            Method::GET,
            "/users/42/profile/email",
            found("profile", &[("id", int(42)), ("property", s("email"))]),
        ),
        (
            Method::GET,
            "/items/12",
            found("item_int", &[("id", int(12))]),
        ),
        (
            Method::GET,
            "/items/12.5",
            found("item_float", &[("price", ArgValue::Float(12.5))]),
        ),
        (
            Method::GET,
            "/items/123e4567-e89b-12d3-a456-426614174000",
            found(
                "item_uuid",
                &[("key", s("123e4567-e89b-12d3-a456-426614174000"))],
            ),
        ),
        (
            Method::GET,
            "/items/12x",
            found("item_str", &[("slug", s("12x"))]),
        ),
        (
            Method::GET,
            "/items/inf",
            found("item_str", &[("slug", s("inf"))]),
        ),
        (Method::GET, "/files/readme", found("readme", &[])),
        (
            Method::GET,
            "/files/a/b/c.txt",
            found("file", &[("file", s("a/b/c.txt"))]),
        ),
        (
            Method::GET,
            "/files/readme/x",
            found("file", &[("file", s("readme/x"))]),
        ),
        (Method::GET, "/nope", Got::NotFound),
        (Method::GET, "/users/42/profile", Got::NotFound),
        (Method::GET, "/users/42/profile/email/more", Got::NotFound),
        (Method::GET, "/files", Got::NotFound),
        (Method::GET, "", Got::NotFound),
        (Method::GET, "users", Got::NotFound),
        (Method::GET, "*", Got::NotFound),
    ];
    for (method, path, want) in cases {
        assert_eq!(got(&r, method.clone(), path), want, "{method} {path}");
    }
}

#[test]
fn static_segments_win_over_parameters() {
    let r = router();
    assert_eq!(got(&r, Method::GET, "/users/me"), found("me", &[]));
    assert_eq!(got(&r, Method::GET, "/files/readme"), found("readme", &[]));
}

#[test]
fn backtracks_from_a_static_branch_to_a_parameter() {
    let r = router();
    // `/users/me` is a route with no `x` child, so the walk falls back to `/users/<id>/me/x`.
    assert_eq!(
        got(&r, Method::GET, "/users/me/me/x"),
        found("user_me_x", &[("id", s("me"))])
    );
}

#[test]
fn typed_parameters_are_tried_int_float_uuid_then_str() {
    let mut r = Router::new();
    r.add(Method::GET, "/a/<str:s>", None, "str").unwrap();
    r.add(Method::GET, "/a/<float:f>", None, "float").unwrap();
    r.add(Method::GET, "/a/<int:i>", None, "int").unwrap();
    assert_eq!(
        got(&r, Method::GET, "/a/1"),
        found("int", &[("i", ArgValue::Int(1))])
    );
    assert_eq!(
        got(&r, Method::GET, "/a/1.5"),
        found("float", &[("f", ArgValue::Float(1.5))])
    );
    assert_eq!(got(&r, Method::GET, "/a/x"), found("str", &[("s", s("x"))]));
}

#[test]
fn percent_encoded_slash_does_not_split_a_segment() {
    let r = router();
    assert_eq!(
        got(&r, Method::GET, "/users/a%2Fb/profile/x%20y"),
        found("profile", &[("id", s("a/b")), ("property", s("x y"))])
    );
}

#[test]
fn percent_encoded_values_are_decoded_after_matching() {
    let r = router();
    assert_eq!(
        got(&r, Method::GET, "/users/%31%32"),
        found("user", &[("id", ArgValue::Int(12))])
    );
    assert_eq!(
        got(&r, Method::GET, "/items/%31"),
        found("item_int", &[("id", ArgValue::Int(1))])
    );
    assert_eq!(
        got(&r, Method::GET, "/files/dir%2Fx/y%25"),
        found("file", &[("file", s("dir/x/y%"))])
    );
    // Literal segments compare with the decoded request segment.
    assert_eq!(
        got(&r, Method::GET, "/caf%C3%A9/1"),
        found("cafe", &[("x", s("1"))])
    );
    assert_eq!(
        got(&r, Method::GET, "/café/1"),
        found("cafe", &[("x", s("1"))])
    );
    assert_eq!(got(&r, Method::GET, "/user%73"), found("users", &[]));
}

#[test]
fn values_that_do_not_decode_to_utf8_do_not_match() {
    let r = router();
    assert_eq!(got(&r, Method::GET, "/users/%FF"), Got::NotFound);
    assert_eq!(got(&r, Method::GET, "/files/%C3"), Got::NotFound);
}

#[test]
fn query_string_is_ignored() {
    let r = router();
    assert_eq!(
        got(&r, Method::GET, "/users/5?id=6"),
        found("user", &[("id", ArgValue::Int(5))])
    );
}

#[test]
fn one_trailing_slash_is_not_significant() {
    let r = router();
    assert_eq!(got(&r, Method::GET, "/users/"), found("users", &[]));
    assert_eq!(
        got(&r, Method::GET, "/users/5/"),
        found("user", &[("id", ArgValue::Int(5))])
    );
    assert_eq!(got(&r, Method::GET, "/users//"), Got::NotFound);
    // A catch-all keeps it, so that the path it was built from comes back.
    assert_eq!(
        got(&r, Method::GET, "/files/docs/"),
        found("file", &[("file", s("docs/"))])
    );
    assert_eq!(
        got(&r, Method::GET, "/files//x"),
        found("file", &[("file", s("/x"))])
    );
    assert_eq!(got(&r, Method::GET, "/files/"), Got::NotFound);
    // A pattern's trailing slash is dropped at registration.
    let mut r2 = Router::new();
    r2.add(Method::GET, "/a/", None, "a").unwrap();
    assert_eq!(got(&r2, Method::GET, "/a"), found("a", &[]));
    assert_eq!(
        r2.add(Method::GET, "/a", None, "again").unwrap_err(),
        RouteError::DuplicateRoute {
            existing: RouteId(0)
        }
    );
}

#[test]
fn matching_is_case_sensitive() {
    let r = router();
    assert_eq!(got(&r, Method::GET, "/Users"), Got::NotFound);
    assert_eq!(
        got(&r, Method::GET, "/users/Bob"),
        found("user", &[("id", s("Bob"))])
    );
}

#[test]
fn other_method_on_a_matching_path_is_405_with_allow() {
    let r = router();
    assert_eq!(
        got(&r, Method::PUT, "/users"),
        Got::NotAllowed("GET, HEAD, POST".into())
    );
    assert_eq!(
        got(&r, Method::POST, "/users/5"),
        Got::NotAllowed("GET, HEAD, DELETE".into())
    );
    assert_eq!(
        got(&r, Method::GET, "/head-only"),
        Got::NotAllowed("HEAD".into())
    );
    let Resolution::MethodNotAllowed { allow } = r.resolve(&Method::PATCH, "/users") else {
        panic!("expected 405");
    };
    assert!(allow.contains(&Method::HEAD));
    assert!(!allow.contains(&Method::PATCH));
}

#[test]
fn a_lower_priority_route_for_the_method_beats_a_405() {
    let mut r = Router::new();
    r.add(Method::POST, "/f/upload", None, "upload").unwrap();
    r.add(Method::GET, "/f/<path:p>", None, "get").unwrap();
    assert_eq!(
        got(&r, Method::GET, "/f/upload"),
        found("get", &[("p", s("upload"))])
    );
    assert_eq!(
        got(&r, Method::PUT, "/f/upload"),
        Got::NotAllowed("POST".into())
    );
}

#[test]
fn head_falls_back_to_get_and_says_so() {
    let r = router();
    let Resolution::Found(m) = r.resolve(&Method::HEAD, "/users/5") else {
        panic!("expected a match");
    };
    assert_eq!(*m.handler, "user");
    assert_eq!(*m.method, Method::GET);
    assert!(m.head_fallback);
    let Resolution::Found(m) = r.resolve(&Method::GET, "/users/5") else {
        panic!("expected a match");
    };
    assert!(!m.head_fallback);
    // An explicit HEAD route is preferred.
    let mut r2 = Router::new();
    r2.add(Method::GET, "/x", None, "get").unwrap();
    r2.add(Method::HEAD, "/x", None, "head").unwrap();
    assert_eq!(got(&r2, Method::HEAD, "/x"), found("head", &[]));
    assert_eq!(
        got(&r2, Method::POST, "/x"),
        Got::NotAllowed("GET, HEAD".into())
    );
}

#[test]
fn custom_methods_route_like_standard_ones() {
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let mut r = Router::new();
    r.add(purge.clone(), "/cache/<path:key>", Some("purge"), "purge")
        .unwrap();
    assert_eq!(
        got(&r, purge, "/cache/a/b"),
        found("purge", &[("key", s("a/b"))])
    );
    assert_eq!(
        got(&r, Method::GET, "/cache/a"),
        Got::NotAllowed("PURGE".into())
    );
}

#[test]
fn match_carries_route_metadata() {
    let r = router();
    let Resolution::Found(m) = r.resolve(&Method::GET, "/users/9/profile/name") else {
        panic!("expected a match");
    };
    assert_eq!(m.pattern, "/users/<id>/profile/<property>");
    assert_eq!(m.name, Some("profile"));
    assert_eq!(r.handler(m.id), Some(&"profile"));
    assert_eq!(r.route_id("profile"), Some(m.id));
    assert_eq!(m.args.len(), 2);
    assert_eq!(m.args.int("id"), Some(9));
    assert_eq!(m.args.float("id"), Some(9.0));
    assert_eq!(m.args.str("id"), None);
    assert_eq!(m.args.str("property"), Some("name"));
    assert_eq!(m.args.get("nope"), None);
    assert_eq!(
        m.args.to_json(),
        serde_json::json!({"id": 9, "property": "name"})
    );
    assert_eq!(
        serde_json::to_string(&m.args).unwrap(),
        r#"{"id":9,"property":"name"}"#
    );
}

#[test]
fn registration_errors_cover_names_and_duplicates() {
    let mut r = Router::new();
    r.add(Method::GET, "/a/<x>", Some("a"), ()).unwrap();
    assert_eq!(
        r.add(Method::GET, "/b", Some("a"), ()).unwrap_err(),
        RouteError::DuplicateName("a".into())
    );
    assert_eq!(
        r.add(Method::GET, "/b", Some(""), ()).unwrap_err(),
        RouteError::EmptyRouteName
    );
    // Same shape: `<x>` and `<str:y>` accept the same segments.
    assert_eq!(
        r.add(Method::GET, "/a/<str:y>", None, ()).unwrap_err(),
        RouteError::DuplicateRoute {
            existing: RouteId(0)
        }
    );
    // Another method or another converter is another route.
    r.add(Method::POST, "/a/<x>", None, ()).unwrap();
    r.add(Method::GET, "/a/<int:x>", None, ()).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(
        r.add(Method::GET, "/a/<bad", None, ()).unwrap_err(),
        RouteError::UnclosedArg { at: 3 }
    );
    assert_eq!(r.len(), 3, "a failed add leaves the table unchanged");
}

#[test]
fn path_from_route_encodes_each_value() {
    let r = router();
    let path = |name: &str, args: &[(&str, ArgValue<'_>)]| r.path_from_route(name, args);
    assert_eq!(path("root", &[]).unwrap(), "/");
    assert_eq!(path("users", &[("ignored", 1.into())]).unwrap(), "/users");
    assert_eq!(
        path(
            "profile",
            &[("id", 42.into()), ("property", "a/b c?%".into())]
        )
        .unwrap(),
        "/users/42/profile/a%2Fb%20c%3F%25"
    );
    assert_eq!(
        path("item_float", &[("price", 2.5.into())]).unwrap(),
        "/items/2.5"
    );
    assert_eq!(
        path("item_float", &[("price", 3.into())]).unwrap(),
        "/items/3"
    );
    assert_eq!(
        path("file", &[("file", "dir/é x.txt".into())]).unwrap(),
        "/files/dir/%C3%A9%20x.txt"
    );
    assert_eq!(path("cafe", &[("x", "y".into())]).unwrap(), "/caf%C3%A9/y");
    let owned = String::from("bob");
    assert_eq!(
        path("user", &[("id", (&owned).into())]).unwrap(),
        "/users/bob"
    );
}

#[test]
fn path_from_route_reports_each_error() {
    let r = router();
    let err =
        |name: &str, args: &[(&str, ArgValue<'_>)]| r.path_from_route(name, args).unwrap_err();
    assert_eq!(
        err("nope", &[]),
        RouteError::UnknownRouteName("nope".into())
    );
    assert_eq!(err("user", &[]), RouteError::MissingArg("id".into()));
    assert_eq!(
        err("item_int", &[("id", 1.5.into())]),
        RouteError::WrongArgType {
            arg: "id".into(),
            expected: Converter::Int
        }
    );
    assert_eq!(
        err("item_int", &[("id", "1".into())]),
        RouteError::WrongArgType {
            arg: "id".into(),
            expected: Converter::Int
        }
    );
    assert_eq!(
        err("item_float", &[("price", "1".into())]),
        RouteError::WrongArgType {
            arg: "price".into(),
            expected: Converter::Float
        }
    );
    assert_eq!(
        err("user", &[("id", 1.5.into())]),
        RouteError::WrongArgType {
            arg: "id".into(),
            expected: Converter::Auto
        }
    );
    assert_eq!(
        err("item_str", &[("slug", 1.into())]),
        RouteError::WrongArgType {
            arg: "slug".into(),
            expected: Converter::Str
        }
    );
    assert_eq!(
        err("item_float", &[("price", f64::NAN.into())]),
        RouteError::InvalidArgValue("price".into())
    );
    assert_eq!(
        err("user", &[("id", "".into())]),
        RouteError::InvalidArgValue("id".into())
    );
    assert_eq!(
        err("item_uuid", &[("key", "not-a-uuid".into())]),
        RouteError::InvalidArgValue("key".into())
    );
}

#[test]
fn every_error_displays_in_lowercase_without_period() {
    let errors = [
        RouteError::MissingLeadingSlash,
        RouteError::EmptySegment { at: 1 },
        RouteError::UnclosedArg { at: 1 },
        RouteError::UnexpectedChar { at: 1, ch: '>' },
        RouteError::EmptyArgName { at: 1 },
        RouteError::InvalidArgName { at: 1 },
        RouteError::UnknownConverter { at: 1 },
        RouteError::DuplicateArgName { at: 1 },
        RouteError::ArgNotWholeSegment { at: 1 },
        RouteError::CatchAllNotLast { at: 1 },
        RouteError::TooManyArgs { max: MAX_ARGS },
        RouteError::EmptyRouteName,
        RouteError::DuplicateName("n".into()),
        RouteError::DuplicateRoute {
            existing: RouteId(0),
        },
        RouteError::UnknownRouteName("n".into()),
        RouteError::MissingArg("a".into()),
        RouteError::WrongArgType {
            arg: "a".into(),
            expected: Converter::Int,
        },
        RouteError::InvalidArgValue("a".into()),
    ];
    for e in errors {
        let text = e.to_string();
        let first = text.chars().next().unwrap();
        assert!(!first.is_uppercase() && !text.ends_with('.'), "{text}");
    }
}

#[test]
fn binding_merges_path_and_query_with_the_path_winning() {
    let mut r = Router::new();
    r.add(Method::GET, "/<int:b>/<a>", None, ()).unwrap();
    let Resolution::Found(m) = r.resolve(&Method::GET, "/5/test") else {
        panic!("expected a match");
    };
    let b = Binding::new(
        &m.args,
        [
            ("a", "2"),
            ("b", "6"),
            ("unexpected", "there"),
            ("page", "1"),
            ("page", "2"),
        ],
    );
    assert_eq!(b.str("a"), Some("test"));
    assert_eq!(b.int("b"), Some(5));
    assert_eq!(b.str("unexpected"), Some("there"));
    assert_eq!(b.int("page"), Some(2), "the last repeated query value wins");
    let extras: Vec<_> = b
        .extras()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(extras, [("page", "2"), ("unexpected", "there")]);
    assert_eq!(
        b.to_json(),
        serde_json::json!({"b": 5, "a": "test", "unexpected": "there", "page": "2"})
    );
    let names: Vec<_> = b.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["b", "a", "unexpected", "page"]);
}

#[test]
fn arg_value_conversions() {
    assert_eq!(ArgValue::from("12").as_int(), Some(12));
    assert_eq!(ArgValue::from("1.5").as_float(), Some(1.5));
    assert_eq!(ArgValue::from(2).as_float(), Some(2.0));
    assert_eq!(ArgValue::from(2.5).as_int(), None);
    assert_eq!(ArgValue::from(2).as_str(), None);
    assert_eq!(ArgValue::from(-3).to_string(), "-3");
    assert_eq!(ArgValue::from(f64::NAN).to_json(), serde_json::Value::Null);
}

fn resolve_owned(r: &Router<()>, path: &str) -> Option<(String, Vec<(String, ArgValue<'static>)>)> {
    match r.resolve(&Method::GET, path) {
        Resolution::Found(m) => Some((
            m.name?.to_owned(),
            m.args
                .iter()
                .map(|(k, v)| (k.to_owned(), v.into_owned()))
                .collect(),
        )),
        _ => None,
    }
}

fn round_trip_router() -> Router<()> {
    let mut r = Router::new();
    for (pattern, name) in [
        ("/i/<int:a>/<int:b>", "ints"),
        ("/f/<float:x>", "float"),
        ("/s/<str:s>/tail/<str:t>", "strs"),
        ("/n/<n>", "auto"),
        ("/p/<int:id>/<path:rest>", "path"),
    ] {
        r.add(Method::GET, pattern, Some(name), ()).unwrap();
    }
    r
}

fn check_round_trip(r: &Router<()>, name: &str, args: Vec<(&str, ArgValue<'static>)>) {
    let path = r.path_from_route(name, &args).unwrap();
    let want: Vec<_> = args
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    assert_eq!(
        resolve_owned(r, &path),
        Some((name.to_owned(), want)),
        "path {path:?}"
    );
}

/// Non-empty strings of any unicode, with the characters that matter to paths (`/`, `%`,
/// space, `?`, `#`, `.`, `+`) made frequent.
fn path_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        3 => any::<char>(),
        1 => prop::sample::select(vec!['/', '%', ' ', '?', '#', '.', '+', 'é', '0']),
    ];
    prop::collection::vec(ch, 1..24).prop_map(|v| v.into_iter().collect())
}

/// Whether the `<name>` converter would take `s` as an integer: `-?[0-9]+` fitting an i64.
fn looks_like_int(s: &str) -> bool {
    !s.starts_with('+') && s.parse::<i64>().is_ok()
}

proptest! {
    #[test]
    fn round_trips_integers(a in any::<i64>(), b in any::<i64>()) {
        check_round_trip(&round_trip_router(), "ints", vec![("a", a.into()), ("b", b.into())]);
        check_round_trip(&round_trip_router(), "auto", vec![("n", a.into())]);
    }

    #[test]
    fn round_trips_finite_floats(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        check_round_trip(&round_trip_router(), "float", vec![("x", x.into())]);
    }

    #[test]
    fn round_trips_any_unicode_string(s in path_text(), t in path_text()) {
        check_round_trip(&round_trip_router(), "strs", vec![("s", s.into()), ("t", t.into())]);
    }

    #[test]
    fn round_trips_non_integer_strings_in_auto_args(
        s in path_text().prop_filter("not an integer", |s| !looks_like_int(s)),
    ) {
        check_round_trip(&round_trip_router(), "auto", vec![("n", s.into())]);
    }

    #[test]
    fn round_trips_paths_with_slashes(id in any::<i64>(), rest in path_text()) {
        check_round_trip(&round_trip_router(), "path", vec![("id", id.into()), ("rest", rest.into())]);
    }
}

#[test]
fn router_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Router<Box<dyn Fn() -> u16 + Send + Sync>>>();
    assert_send_sync::<std::sync::Arc<Router<fn()>>>();
}

#[test]
fn a_walk_with_many_segments_is_bounded_by_the_trie() {
    let mut r = Router::new();
    r.add(Method::GET, "/<a>/<b>/<c>", None, "abc").unwrap();
    let long = "/x".repeat(10_000);
    assert_eq!(got(&r, Method::GET, &long), Got::NotFound);
    assert_eq!(
        got(&r, Method::GET, "/%41/%2F/%25"),
        found("abc", &[("a", s("A")), ("b", s("/")), ("c", s("%"))])
    );
}

#[test]
fn the_whole_path_lookup_agrees_with_the_walk() {
    let with = router();
    let mut walk_only = router();
    walk_only.exact.clear();
    assert!(with.exact.contains_key("/users/me") && with.exact.contains_key("/"));
    assert!(
        !with.exact.contains_key("/users/<id>"),
        "arguments are never looked up whole"
    );
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::DELETE,
        Method::PUT,
    ];
    let paths = [
        "/",
        "//",
        "/users",
        "/users/",
        "/users?x=1",
        "/users/me",
        "/users/me/",
        "/users/%6De",
        "/users/you",
        "/users/me/x",
        "/users/1/me/x",
        "/files/readme",
        "/files/readme/",
        "/files/other",
        "/head-only",
        "/caf%C3%A9/x",
        "/items/1",
        "/Users",
        "/users//me",
        "",
        "users",
    ];
    for method in &methods {
        for path in paths {
            assert_eq!(
                got(&with, method.clone(), path),
                got(&walk_only, method.clone(), path),
                "{method} {path}"
            );
        }
    }
    // The literal route answers its method; another method goes on to the walk, which finds
    // the argument route for it.
    assert_eq!(got(&with, Method::GET, "/users/me"), found("me", &[]));
    assert_eq!(
        got(&with, Method::DELETE, "/users/me"),
        found("delete_user", &[("id", s("me"))])
    );
    assert_eq!(got(&with, Method::HEAD, "/users/me"), found("me", &[]));
}

proptest! {
    #[test]
    fn any_path_resolves_the_same_with_and_without_the_whole_path_lookup(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("users"), Just("me"), Just("files"), Just("readme"), Just("items"),
                Just("1"), Just("x"), Just(""), Just("%6De"), Just("head-only"),
            ],
            0..5,
        ),
        trailing in any::<bool>(),
        method in prop_oneof![Just(Method::GET), Just(Method::HEAD), Just(Method::POST)],
    ) {
        let with = router();
        let mut walk_only = router();
        walk_only.exact.clear();
        let mut path = format!("/{}", parts.join("/"));
        if trailing {
            path.push('/');
        }
        prop_assert_eq!(got(&with, method.clone(), &path), got(&walk_only, method, &path));
    }
}
