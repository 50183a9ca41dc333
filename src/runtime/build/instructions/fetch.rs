//! ADD of `http://` and `https://` sources: the file is downloaded into a scratch directory and
//! then copied like a local one (mode 0600, mtime from `Last-Modified`, as docker does). It is
//! fetched on every build: its content is part of the step's cache key.
//!
//! reqwest is the HTTP client the registry code already pulls in (through oci-client), with the
//! same rustls/ring TLS; no extra dependency is built.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;

use super::super::error::{BuildError, IoContext, Result};

/// Whether ADD treats `src` as a URL.
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// The file name docker gives a downloaded source: the last path segment of the URL.
pub fn file_name(url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    path.split_once('/')
        .map(|(_, p)| p)
        .and_then(|p| p.rsplit('/').find(|s| !s.is_empty()))
        .unwrap_or("__unnamed__")
        .to_string()
}

/// Download `url` to `dir/<file name>`.
pub fn fetch(url: &str, dir: &Path) -> Result<PathBuf> {
    let fail = |m: String| BuildError::Fetch {
        url: url.to_string(),
        message: m,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let dest = dir.join(file_name(url));
    let modified = rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP status {}", resp.status())));
        }
        let modified = resp
            .headers()
            .get(http::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|t| std::time::SystemTime::from(t.with_timezone(&chrono::Utc)));
        let mut out = File::create(&dest).at(&dest)?;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| fail(e.to_string()))?;
            out.write_all(&chunk).at(&dest)?;
        }
        Ok::<_, BuildError>(modified)
    })?;
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).at(&dest)?;
    if let Some(t) = modified {
        File::options()
            .write(true)
            .open(&dest)
            .and_then(|f| f.set_modified(t))
            .at(&dest)?;
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_path() {
        assert_eq!(file_name("http://h/a/b/file.tar.gz?x=1"), "file.tar.gz");
        assert_eq!(file_name("https://h:8080/dir/"), "dir");
        assert_eq!(file_name("http://h"), "__unnamed__");
        assert!(is_url("https://x/y"));
        assert!(!is_url("./http://x"));
    }

    #[test]
    fn downloads_from_a_local_server() {
        use std::io::{Read, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\nhello")
                .unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let got = fetch(
            &format!("http://127.0.0.1:{port}/files/greeting.txt"),
            dir.path(),
        )
        .unwrap();
        server.join().unwrap();
        assert_eq!(got, dir.path().join("greeting.txt"));
        assert_eq!(fs::read_to_string(&got).unwrap(), "hello");
        let md = fs::metadata(&got).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(md.mtime(), 1_445_412_480);
    }
}
