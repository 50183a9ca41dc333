//! End-to-end networking of projects (root, real containers): replicas behind one name, aliases,
//! `network_mode: service:` / `none`, internal networks, isolation between two projects, NAT to
//! the outside and a published UDP port.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use support::compose::ComposeEnv;
use support::probe;

const WEB: &str = r#"
x-bb: &bb
  image: lab/busybox:1
  init: true
services:
  web:
    <<: *bb
    command: ["sh", "-c", "mkdir -p /w && hostname > /w/index.html && exec httpd -f -p 80 -h /w"]
    scale: 3
    networks:
      default:
        aliases: [www]
  client:
    <<: *bb
    command: ["sleep", "1000"]
  sidecar:
    <<: *bb
    command: ["sleep", "1000"]
    network_mode: "service:client"
    depends_on: [client]
  loner:
    <<: *bb
    command: ["sleep", "1000"]
    network_mode: none
  vault:
    <<: *bb
    command: ["sleep", "1000"]
    networks: [backend]
networks:
  backend:
    internal: true
"#;

fn addresses(nslookup: &str) -> Vec<String> {
    nslookup
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().split(' ').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn replicas_aliases_and_network_modes() {
    require_root!();
    let env = ComposeEnv::new("net", WEB);
    env.ok(&["up", "-d", "--wait"]);

    // Three replicas answer behind one name, and behind the alias.
    let found = env.ok(&["exec", "-T", "client", "nslookup", "web"]);
    let mut ips = addresses(&found);
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "three replicas behind `web`: {found}");
    let mut alias = addresses(&env.ok(&["exec", "-T", "client", "nslookup", "www"]));
    alias.sort();
    alias.dedup();
    assert_eq!(alias, ips, "the alias names the same three replicas");
    // Each address is a different replica (glibc clients sort answers, so ask each directly).
    let mut seen = std::collections::BTreeSet::new();
    for ip in &ips {
        let who = env.ok(&[
            "exec",
            "-T",
            "client",
            "wget",
            "-qO-",
            &format!("http://{ip}/"),
        ]);
        seen.insert(who.trim().to_string());
    }
    assert_eq!(seen.len(), 3, "three distinct replicas: {seen:?}");
    let via_alias = env.ok(&["exec", "-T", "client", "wget", "-qO-", "http://www/"]);
    assert!(seen.contains(via_alias.trim()), "{via_alias}");

    // `service:client` shares client's network namespace: same interfaces and addresses.
    let a = env.ok(&["exec", "-T", "client", "cat", "/proc/net/fib_trie"]);
    let b = env.ok(&["exec", "-T", "sidecar", "cat", "/proc/net/fib_trie"]);
    assert_eq!(a, b, "sidecar sees client's network");

    // `none`: loopback only.
    let dev = env.ok(&["exec", "-T", "loner", "cat", "/proc/net/dev"]);
    assert!(dev.contains("lo:") && !dev.contains("eth0"), "{dev}");

    // An internal network has no default route.
    let routes = env.ok(&["exec", "-T", "vault", "cat", "/proc/net/route"]);
    assert!(
        !routes
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("00000000")),
        "no default route on an internal network: {routes}"
    );
    env.ok(&["down"]);
    env.assert_clean();
}

#[test]
fn two_projects_with_the_same_network_names_stay_apart() {
    require_root!();
    let yaml = r#"
services:
  box:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
"#;
    let one = ComposeEnv::new("isoa", yaml);
    let two = one.sibling("isob", yaml);
    one.ok(&["up", "-d"]);
    two.ok(&["up", "-d"]);
    let other = format!("{}-box-1", two.project);
    let out = one.run(&["exec", "-T", "box", "nslookup", &other]);
    assert!(
        !out.status.success(),
        "project one cannot resolve project two's container"
    );
    two.ok(&["down"]);
    one.ok(&["down"]);
    drop(two);
    one.assert_clean();
}

/// A service reaches the outside through the project network's NAT (the Debian mirror is the
/// one outside host this machine may reach), resolving it through the embedded DNS's forwarder;
/// an `internal` network's service cannot. (No `wget -T`: Debian's busybox-static 1.35 wget
/// segfaults with it.)
#[test]
fn services_reach_the_debian_mirror_through_nat_but_not_from_internal_networks() {
    let env = ComposeEnv::new(
        "nat",
        r#"
x-bb: &bb
  image: lab/busybox:1
services:
  fetch:
    <<: *bb
    command: ["sh", "-c", "wget -q -O - http://deb.debian.org/debian/dists/bookworm/Release | head -n 3"]
  sealed:
    <<: *bb
    command: ["sh", "-c", "timeout 10 wget -q -O - http://deb.debian.org/debian/ >/dev/null && echo LEAKED || echo blocked"]
    networks: [inside]
networks:
  inside:
    internal: true
"#,
    );
    let fetched = env.ok(&["up", "fetch", "--exit-code-from", "fetch"]);
    assert!(fetched.contains("Origin: Debian"), "{fetched}");
    let sealed = env.ok(&["up", "sealed", "--exit-code-from", "sealed"]);
    assert!(
        sealed.contains("blocked") && !sealed.contains("LEAKED"),
        "{sealed}"
    );
    env.ok(&["down"]);
    env.assert_clean();
}

/// A datagram to `addr` and its echo.
fn udp_round_trip(addr: &str, text: &str) -> String {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.send_to(text.as_bytes(), addr).expect("send");
    let mut buf = [0u8; 512];
    let (n, _) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no UDP answer from {addr}: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// `ports: ["127.0.0.1::9000/udp"]` under `up`: a datagram sent to the published port on the host
/// reaches the service and its answer comes back; `port` prints where it is published.
#[test]
fn a_published_udp_port_carries_datagrams_both_ways() {
    require_root!();
    let env = ComposeEnv::new(
        "udp",
        r#"
services:
  echo:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
    ports: ["127.0.0.1::9000/udp"]
"#,
    );
    env.ok(&["up", "-d"]);
    let pid = env
        .pid_of(&format!("{}-echo-1", env.project))
        .expect("echo is running");
    let server = probe::udp_echo_in(Path::new(&format!("/proc/{pid}/ns/net")), 9000);
    let published = env.ok(&["port", "--protocol", "udp", "echo", "9000"]);
    let published = published.trim();
    assert!(published.starts_with("127.0.0.1:"), "{published}");
    assert_eq!(udp_round_trip(published, "ping"), "echo:ping");
    assert_eq!(udp_round_trip(published, "again"), "echo:again");
    assert_eq!(udp_round_trip(published, "quit"), "echo:quit");
    server.join().expect("udp server");
    env.ok(&["down"]);
    env.assert_clean();
}
