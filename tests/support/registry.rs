//! A throwaway registry: Debian's `/usr/bin/docker-registry serve <config>` on a free loopback
//! port with its own temp storage. Dropping the guard kills it and removes its directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    /// Start a registry and wait until `GET /v2/` answers.
    pub fn start() -> Registry {
        Self::start_inner(None)
    }

    /// Start a registry that requires HTTP basic auth (htpasswd, bcrypt via python3's crypt).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Self::start_inner(Some((user, password)))
    }

    fn start_inner(auth: Option<(&str, &str)>) -> Registry {
        let mut last_err = String::new();
        for _ in 0..5 {
            match Self::try_start(auth) {
                Ok(r) => return r,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start docker-registry: {last_err}");
    }

    fn try_start(auth: Option<(&str, &str)>) -> Result<Registry, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = tempfile::Builder::new()
            .prefix("rcompose-registry-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).map_err(|e| e.to_string())?;
        let config = dir.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((user, password)) = auth {
            let out = Command::new("python3")
                .args(["-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))", password])
                .output()
                .map_err(|e| format!("python3: {e}"))?;
            let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !out.status.success() || !hash.starts_with("$2") {
                return Err(format!(
                    "bcrypt via python3 failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).map_err(|e| e.to_string())?;
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: rcompose-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("spawn {DOCKER_REGISTRY}: {e}"))?;
        let mut reg = Registry { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = reg.child.try_wait() {
                return Err(format!("registry exited: {status}; log: {}", reg.log()));
            }
            if reg
                .get("/v2/")
                .is_some_and(|(code, _)| code == 200 || code == 401)
            {
                return Ok(reg);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "registry did not answer on port {port}; log: {}",
            reg.log()
        ))
    }

    /// `127.0.0.1:<port>`, the registry part of references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A minimal HTTP/1.0 GET; returns status code and body.
    pub fn get(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.host()).ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf);
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body_at = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        Some((code, buf[body_at..].to_vec()))
    }

    /// `skopeo copy --dest-tls-verify=false <src> docker://<host>/<repo_tag>` plus `extra` args.
    pub fn skopeo_push(&self, src: &str, repo_tag: &str, extra: &[&str]) {
        let dest = format!("docker://{}/{repo_tag}", self.host());
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .args(extra)
            .arg(src)
            .arg(&dest)
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {src} {dest} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // the TempDir field removes the storage afterwards
    }
}
