//! HTML escaping of `& < > " '`: the one implementation the error pages, the template engine and
//! applications share.

/// Returns the entity replacing an HTML-special byte, or `None` for any other byte.
#[inline]
#[must_use]
pub fn html_entity(b: u8) -> Option<&'static str> {
    match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        b'\'' => Some("&#39;"),
        _ => None,
    }
}

/// Appends `text` to `out` with `& < > " '` escaped (safe in HTML text and quoted attributes).
pub fn escape_html_into(out: &mut String, text: &str) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        if let Some(rep) = html_entity(b) {
            // The special bytes are ASCII, so `i` is always a char boundary.
            out.push_str(text.get(last..i).unwrap_or_default());
            out.push_str(rep);
            last = i + 1;
        }
    }
    out.push_str(text.get(last..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters_and_keeps_the_rest() {
        let mut s = String::new();
        escape_html_into(&mut s, r#"<a href="x">&'é</a>"#);
        assert_eq!(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;é&lt;/a&gt;");
    }
}
