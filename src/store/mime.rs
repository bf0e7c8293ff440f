//! Content-Type from a name's extension, agreeing with Python's `mimetypes`
//! (what Swift uses) where the common tables differ.

/// Where `mime_guess` and Python disagree, Swift clients expect Python's.
const PYTHON_TYPES: &[(&str, &str)] = &[
    ("wav", "audio/x-wav"),
    ("js", "application/javascript"),
    ("ico", "image/vnd.microsoft.icon"),
];

/// The type of `name` by extension; `application/octet-stream` if unknown.
pub fn guess(name: &str) -> String {
    let ext = name
        .rsplit('/')
        .next()
        .and_then(|leaf| leaf.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    if let Some(e) = &ext {
        if let Some((_, t)) = PYTHON_TYPES.iter().find(|(x, _)| x == e) {
            return (*t).to_string();
        }
    }
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::guess;

    #[test]
    fn guesses_like_python() {
        assert_eq!(guess("a/b.wav"), "audio/x-wav");
        assert_eq!(guess("x.txt"), "text/plain");
        assert_eq!(guess("x.ZIP"), "application/zip");
        assert_eq!(guess("noext"), "application/octet-stream");
        assert_eq!(guess("dir.d/noext"), "application/octet-stream");
    }
}
