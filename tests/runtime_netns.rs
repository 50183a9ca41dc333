//! A service container in a persistent network namespace, as `up` runs it: the namespace is
//! created and plumbed (veth, address) before the container exists, the container joins it,
//! and when the container dies and its restart policy brings it back, the interface and
//! address are still there. The engine-rendered `/etc/hosts` and `/etc/resolv.conf` are what
//! the container sees. Removing the namespace leaves no mount behind.

mod support;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcompose::runtime::container::{
    ExecSpec, NetworkMode, RemoveOptions, RestartPolicy, Runtime, Status,
};
use rcompose::runtime::network::{
    Attachment, HostsFile, NetworkManager, NetworkSpec, Pool, ResolvConf, firewall, hosts_file,
    netd, netns, resolv_conf,
};
use support::runtime::TestEnv;

/// A network manager on its own state root and address pool; removes its networks, netd and
/// nft tables on drop.
struct Net {
    mgr: NetworkManager,
    _dir: tempfile::TempDir,
}

impl Net {
    fn new(pool: &str) -> Net {
        let dir = tempfile::tempdir().expect("tempdir");
        let mgr = NetworkManager::open(&dir.path().join("state"), &dir.path().join("run"))
            .expect("open")
            .with_netd_binary(env!("CARGO_BIN_EXE_rcompose"))
            .with_pools(vec![Pool {
                base: pool.parse().expect("pool"),
                size: 24,
            }]);
        Net { mgr, _dir: dir }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Ok(st) = self.mgr.state() {
            for n in st.networks.keys() {
                let _ = self.mgr.remove_network(n);
            }
        }
        if let Some(pid) = netd::running_pid(self.mgr.run_dir()) {
            // SAFETY: killing the netd this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let (nat, filter) = firewall::table_names(&self.mgr.firewall_tag());
        let _ = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("nft delete table ip {nat}; nft delete table inet {filter}"),
            ])
            .output();
    }
}

/// Removes the namespace at its path on drop (also when an assertion fails).
struct NsGuard(PathBuf);

impl Drop for NsGuard {
    fn drop(&mut self) {
        let _ = netns::remove(&self.0);
    }
}

fn mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(path.to_string_lossy().as_ref()))
}

fn exec(env: &TestEnv, id: &str, script: &str) -> String {
    let out = env
        .rt
        .exec_output(id, &ExecSpec::new(["sh", "-c", script]))
        .expect("exec");
    assert_eq!(
        out.exit_code,
        0,
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_restarted_container_keeps_its_namespace_and_address() {
    require_root!();
    let env = TestEnv::new();
    let net = Net::new("10.214.0.0/16");
    let path = env.run_root().join("netns/web-1");
    let ns = netns::create(&path).expect("create netns");
    let _guard = NsGuard(path.clone());
    assert!(netns::is_netns(&path));
    assert!(mounted(&path));
    assert_eq!(
        netns::create(&path).expect("create again"),
        ns,
        "idempotent"
    );

    let info = net
        .mgr
        .ensure_network(&NetworkSpec {
            name: "rctns_default".into(),
            ..Default::default()
        })
        .expect("network");
    let ep = net
        .mgr
        .attach(
            "web-1",
            &ns,
            &[Attachment {
                network: info.name.clone(),
                aliases: vec!["web".into()],
                ..Default::default()
            }],
        )
        .expect("attach")
        .remove(0);
    assert_eq!(ep.ifname, "eth0");

    let mut spec = env.sh("web-1", "sleep 100");
    spec.network = NetworkMode::Path(path.clone());
    spec.restart = RestartPolicy::Always;
    spec.hostname = Some("web".into());
    spec.etc_hosts = Some(hosts_file(&HostsFile {
        hostname: "web".into(),
        addresses: vec![ep.ipv4],
        extra_hosts: vec![("db.example".into(), "10.9.9.9".parse().expect("ip"))],
        ..Default::default()
    }));
    spec.resolv_conf = Some(resolv_conf(
        &ResolvConf {
            gateway: Some(info.gateway),
            search: vec!["example.org".into()],
            ..Default::default()
        },
        None,
    ));
    let id = env.run(&spec);

    let addr = |id: &str| -> Vec<Ipv4Addr> {
        exec(&env, id, "ip -o -4 addr show dev eth0")
            .split_whitespace()
            .filter_map(|w| w.split_once('/').and_then(|(a, _)| a.parse().ok()))
            .collect()
    };
    assert_eq!(addr(&id), vec![ep.ipv4]);
    assert_eq!(exec(&env, &id, "hostname").trim(), "web");
    let hosts = exec(&env, &id, "cat /etc/hosts");
    assert!(hosts.contains(&format!("{}\tweb\n", ep.ipv4)), "{hosts}");
    assert!(hosts.contains("10.9.9.9\tdb.example\n"), "{hosts}");
    let resolv = exec(&env, &id, "cat /etc/resolv.conf");
    assert!(
        resolv.contains(&format!("nameserver {}\n", info.gateway)),
        "{resolv}"
    );
    assert!(resolv.contains("search example.org\n"), "{resolv}");

    // The container dies (not by the user): its restart policy brings it back into the same
    // namespace, with the same interface and address.
    let first = env.state(&id);
    let pid = first.pid.expect("pid");
    // SAFETY: killing the init of the container this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let st = env
        .rt
        .wait_until(&id, Instant::now() + Duration::from_secs(10), |s| {
            s.status == Status::Running && s.restart_count == 1
        })
        .expect("wait_until")
        .expect("restarted");
    assert_ne!(st.pid, Some(pid));
    assert_eq!(addr(&id), vec![ep.ipv4]);
    assert!(exec(&env, &id, "cat /proc/net/dev").contains("eth0:"));

    env.rt
        .remove(
            &id,
            RemoveOptions {
                force: true,
                volumes: true,
            },
        )
        .expect("remove");
    env.assert_gone(&id);
    net.mgr.detach("web-1", None).expect("detach");
    netns::remove(&path).expect("remove netns");
    assert!(!mounted(&path), "netns still mounted");
    assert!(!path.exists());
    netns::remove(&path).expect("removing twice is fine");
}
