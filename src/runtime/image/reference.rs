//! Image references, parsed and normalized the way docker does (`ParseNormalizedNamed`):
//! `nginx` → `docker.io/library/nginx:latest`, `localhost:5000/x` keeps its registry,
//! `name@sha256:…` pins a digest.

use std::fmt;
use std::str::FromStr;

use super::digest::Digest;
use super::error::ImageError;

/// The default registry for names without one, as docker spells it.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";

/// A normalized, fully qualified reference: `domain/path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse and normalize; a reference without tag and digest gets `:latest`.
    pub fn parse(input: &str) -> Result<Self, ImageError> {
        let err = |reason: &str| ImageError::InvalidReference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(err("empty reference"));
        }
        if input.len() > 4096 {
            return Err(err("too long"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Digest::parse(d).map_err(|_| err("invalid digest"))?),
            ),
            None => (input, None),
        };
        // A tag is the part after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(err("invalid tag"));
        }
        if name.is_empty() {
            return Err(err("empty name"));
        }
        let (mut domain, mut path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        if domain == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_REPO_PREFIX}{path}");
        }
        if !valid_domain(&domain) {
            return Err(err("invalid registry host"));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err("repository name must be lowercase"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(err("invalid repository name"));
        }
        if domain.len() + 1 + path.len() > 255 {
            return Err(err("repository name must not be more than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// A reference from parts (already normalized repository), e.g. when tagging.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ImageError> {
        Reference::parse(&format!("{}/{}:{tag}", self.domain, self.path))
    }

    /// The same repository pinned to `digest` (no tag).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// Registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Repository path inside the registry, e.g. `library/nginx`.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// `domain/path`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The short form docker prints (`nginx:latest`, `user/app:1`, `localhost:5000/x:latest`).
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        let Some(rest) = full.strip_prefix("docker.io/") else {
            return full;
        };
        rest.strip_prefix(OFFICIAL_REPO_PREFIX)
            .unwrap_or(rest)
            .to_string()
    }

    /// The reference in the form `oci-client` expects.
    pub fn to_oci(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (_, Some(d)) => oci_client::Reference::with_digest(
                self.domain.clone(),
                self.path.clone(),
                d.to_string(),
            ),
            (Some(t), None) => {
                oci_client::Reference::with_tag(self.domain.clone(), self.path.clone(), t.clone())
            }
            (None, None) => oci_client::Reference::with_tag(
                self.domain.clone(),
                self.path.clone(),
                "latest".into(),
            ),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self, ImageError> {
        Reference::parse(s)
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run: '.', '_', '__' or '-'+
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_domain(d: &str) -> bool {
    // host[:port], host may be a bracketed IPv6 literal.
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

/// Whether `domain` is a loopback registry that dockerd talks plain HTTP to.
pub fn is_loopback_domain(domain: &str) -> bool {
    let host = if let Some(rest) = domain.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        domain.rsplit_once(':').map_or(domain, |(h, _)| h)
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalization_table() {
        let table: &[(&str, &str, &str)] = &[
            ("nginx", "docker.io/library/nginx:latest", "nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"),
            (
                "library/nginx",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            (
                "docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            (
                "index.docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            ("user/app", "docker.io/user/app:latest", "user/app:latest"),
            (
                "user/app:v1.2-rc_3",
                "docker.io/user/app:v1.2-rc_3",
                "user/app:v1.2-rc_3",
            ),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            (
                "localhost:5000/x",
                "localhost:5000/x:latest",
                "localhost:5000/x:latest",
            ),
            (
                "127.0.0.1:5000/a/b/c:t",
                "127.0.0.1:5000/a/b/c:t",
                "127.0.0.1:5000/a/b/c:t",
            ),
            ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
            ("ghcr.io/o/r:1", "ghcr.io/o/r:1", "ghcr.io/o/r:1"),
            (
                "quay.io/a__b/c-d.e",
                "quay.io/a__b/c-d.e:latest",
                "quay.io/a__b/c-d.e:latest",
            ),
            ("foo:5000", "docker.io/library/foo:5000", "foo:5000"),
        ];
        for (input, full, familiar) in table {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *full, "{input}");
            assert_eq!(r.familiar(), *familiar, "{input}");
            // normalizing is idempotent
            assert_eq!(Reference::parse(full).ok().as_ref(), Some(&r), "{input}");
        }
    }

    #[test]
    fn digests() {
        let r = Reference::parse(&format!("nginx@{D}")).expect("parse");
        assert_eq!(r.to_string(), format!("docker.io/library/nginx@{D}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(|d| d.as_str()), Some(D));
        let r = Reference::parse(&format!("localhost:5000/x:1@{D}")).expect("parse");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.to_oci().digest(), Some(D));
    }

    #[test]
    fn invalid() {
        for bad in [
            "",
            "Nginx",
            "user/App",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:abc",
            "a//b",
            "/a",
            "a/",
            "a..b",
            "a b",
            "nginx:tag:more",
            "-a",
            "localhost:x/y",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn loopback() {
        assert!(is_loopback_domain("localhost:5000"));
        assert!(is_loopback_domain("127.0.0.1:5000"));
        assert!(is_loopback_domain("127.1.2.3"));
        assert!(is_loopback_domain("[::1]:5000"));
        assert!(!is_loopback_domain("docker.io"));
        assert!(!is_loopback_domain("10.0.0.1:5000"));
    }
}
