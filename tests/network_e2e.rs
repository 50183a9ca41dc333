//! End-to-end tests of project networking on real kernel objects (run as root). Network
//! namespaces stand in for containers (`ip netns add`, plus one `unshare -n` process to cover the
//! pid form); busybox `nc`/`nslookup`, `getent` and `curl` run inside them. Every test has its own
//! state root, address pool and short unique names, and RAII guards remove namespaces, servers,
//! networks, nft tables and netd even when an assertion fails.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcompose::runtime::network::{
    Attachment, HostPort, HostsFile, Ipv4Net, NetError, Netns, NetworkManager, NetworkSpec, Pool,
    PortBinding, Protocol, ResolvConf, hosts_file, netd, resolv_conf,
};
use support::probe;

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("run sh");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// A stand-in container: a named network namespace (`/run/netns/NAME`).
struct Ns {
    name: String,
    servers: Vec<Child>,
}

impl Ns {
    fn new(name: &str) -> Ns {
        let _ = sh(&format!("ip netns del {name} 2>/dev/null"));
        let (ok, out) = sh(&format!("ip netns add {name}"));
        assert!(ok, "ip netns add {name}: {out}");
        Ns {
            name: name.to_string(),
            servers: Vec::new(),
        }
    }
    fn netns(&self) -> Netns {
        Netns::Path(PathBuf::from(format!("/run/netns/{}", self.name)))
    }
    /// Run a shell script inside (with `/etc/netns/NAME/resolv.conf` bind-mounted by ip).
    fn run(&self, script: &str) -> (bool, String) {
        sh(&format!(
            "timeout 30 ip netns exec {} sh -c '{}'",
            self.name,
            script.replace('\'', "'\\''")
        ))
    }
    /// Start a background server inside.
    fn serve(&mut self, script: &str) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn server");
        self.servers.push(child);
        std::thread::sleep(Duration::from_millis(150));
    }
    fn write_resolv_conf(&self, content: &str) {
        let dir = format!("/etc/netns/{}", self.name);
        std::fs::create_dir_all(&dir).expect("mkdir /etc/netns");
        std::fs::write(format!("{dir}/resolv.conf"), content).expect("write resolv.conf");
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        for c in &mut self.servers {
            // SAFETY: signalling the process group we created.
            unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
            let _ = c.wait();
        }
        let _ = sh(&format!(
            "ip netns del {0}; rm -rf /etc/netns/{0}",
            self.name
        ));
    }
}

/// A manager on a private state root and pool; teardown on drop.
struct Fixture {
    mgr: NetworkManager,
    _dir: tempfile::TempDir,
    ifnames: Vec<String>,
}

impl Fixture {
    fn new(pool: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let mgr = NetworkManager::open(&dir.path().join("state"), &dir.path().join("run"))
            .expect("open")
            .with_netd_binary(env!("CARGO_BIN_EXE_rcompose"))
            .with_pools(vec![Pool {
                base: pool.parse().expect("pool"),
                size: 24,
            }]);
        Fixture {
            mgr,
            _dir: dir,
            ifnames: Vec::new(),
        }
    }
    fn net(&mut self, name: &str, internal: bool) -> rcompose::runtime::network::NetworkInfo {
        let info = self
            .mgr
            .ensure_network(&NetworkSpec {
                name: name.into(),
                internal,
                ..Default::default()
            })
            .expect("ensure_network");
        self.ifnames.push(info.ifname.clone());
        info
    }
    fn attach(&mut self, container: &str, ns: &Netns, net: &str, aliases: &[&str]) -> Ipv4Addr {
        let eps = self
            .mgr
            .attach(
                container,
                ns,
                &[Attachment {
                    network: net.into(),
                    aliases: aliases.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                }],
            )
            .expect("attach");
        self.ifnames.push(eps[0].host_ifname.clone());
        eps[0].ipv4
    }
    /// Remove everything and check nothing is left.
    fn teardown_and_check(&mut self) {
        self.teardown();
        let st = self.mgr.state().expect("state");
        assert!(st.is_empty(), "state left: {st:?}");
        let (_, links) = sh("ip -o link");
        for i in &self.ifnames {
            assert!(!links.contains(i.as_str()), "link {i} left:\n{links}");
        }
        let (_, tables) = sh("nft list tables");
        assert!(
            !tables.contains(&self.mgr.firewall_tag()),
            "nft tables left:\n{tables}"
        );
        assert!(!self.mgr.run_dir().exists(), "run dir left");
        assert!(
            !self
                .mgr
                .run_dir()
                .with_file_name("state")
                .join("network/state.json")
                .exists()
        );
    }
    fn teardown(&mut self) {
        if let Ok(st) = self.mgr.state() {
            for p in &st.ports {
                let _ = self.mgr.unpublish(&p.owner);
            }
            for n in st.networks.keys() {
                let _ = self.mgr.remove_network(n);
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.mgr.run_dir().join("netd.log")).unwrap_or_default();
            eprintln!("netd.log:\n{log}");
            eprintln!("state: {:?}", self.mgr.state());
        }
        self.teardown();
        if let Some(pid) = netd::running_pid(self.mgr.run_dir()) {
            // SAFETY: killing the netd this fixture started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let (nat, filter) =
            rcompose::runtime::network::firewall::table_names(&self.mgr.firewall_tag());
        let _ = sh(&format!(
            "nft delete table ip {nat} 2>/dev/null; nft delete table inet {filter} 2>/dev/null"
        ));
        for i in &self.ifnames {
            let _ = sh(&format!("ip link del {i} 2>/dev/null"));
        }
    }
}

fn lookup(ns: &Ns, name: &str, server: Ipv4Addr) -> Vec<Ipv4Addr> {
    let (_, out) = ns.run(&format!("busybox nslookup -type=a {name} {server}"));
    eprintln!("nslookup {name}: {out}");
    // Skip the "Server:"/"Address: server#53" header lines.
    out.lines()
        .filter(|l| l.starts_with("Address"))
        .filter_map(|l| l.split_whitespace().last())
        .filter_map(|a| a.parse::<Ipv4Addr>().ok())
        .filter(|a| *a != server)
        .collect()
}

fn host_ip() -> Ipv4Addr {
    let (_, out) = sh("ip -o -4 route get 1.1.1.1");
    let mut w = out.split_whitespace();
    while let Some(t) = w.next() {
        if t == "src" {
            return w.next().and_then(|s| s.parse().ok()).expect("src address");
        }
    }
    panic!("no src in {out}");
}

#[test]
fn dns_names_aliases_replicas_and_connectivity() {
    let mut fx = Fixture::new("10.201.0.0/16");
    let net = fx.net("p1_default", false);
    assert_eq!(net.subnet, "10.201.0.0/24".parse::<Ipv4Net>().unwrap());
    let (mut a, b) = (Ns::new("rct-a"), Ns::new("rct-b"));
    let ip_a = fx.attach(
        "p1-web-1",
        &a.netns(),
        "p1_default",
        &Attachment::service_aliases("p1", "web", "p1-web-1", &["frontend".into()])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    // The pid form: an `unshare -n` process as the container.
    let mut proc_b = Command::new("unshare")
        .args(["-n", "sleep", "600"])
        .process_group(0)
        .spawn()
        .expect("unshare");
    let pid = proc_b.id();
    let self_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let t0 = Instant::now();
    while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == Some(self_ns.clone()) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "unshare did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let ip_p = fx.attach("p1-db-1", &Netns::Pid(pid), "p1_default", &["db"]);
    let ip_b = fx.attach("p1-cli-1", &b.netns(), "p1_default", &["cli"]);
    assert_eq!(
        (ip_a, ip_p, ip_b),
        (
            net.gateway.to_bits().wrapping_add(1).into(),
            Ipv4Addr::new(10, 201, 0, 3),
            Ipv4Addr::new(10, 201, 0, 4)
        )
    );

    // resolv.conf from the library, used by glibc inside the namespace.
    b.write_resolv_conf(&resolv_conf(
        &ResolvConf {
            gateway: Some(net.gateway),
            ..Default::default()
        },
        None,
    ));
    for name in ["web", "p1-web-1", "frontend", "web.p1", "WEB", "db"] {
        let (ok, out) = b.run(&format!("getent hosts {name}"));
        let want = if name == "db" { ip_p } else { ip_a };
        assert!(
            ok && out.starts_with(&want.to_string()),
            "getent {name}: {out}"
        );
    }
    let (ok, out) = b.run("getent hosts nosuchname-xyz.invalid");
    assert!(!ok, "unknown name resolved: {out}");

    // Connect by the resolved name: busybox nc server in a, client in b.
    a.serve("exec busybox nc -ll -p 7000 -e /bin/echo hello-from-web");
    let (ok, out) = b.run("busybox nc -w 3 $(getent hosts web | cut -d\" \" -f1) 7000 </dev/null");
    assert!(ok && out.contains("hello-from-web"), "nc: {out}");
    let (ok, out) = b.run(&format!("busybox ping -c1 -W2 {ip_p}"));
    assert!(ok, "ping pid-netns container: {out}");

    // Three replicas behind one name, returned in rotating order.
    let replicas: Vec<Ns> = (1..=3).map(|i| Ns::new(&format!("rct-w{i}"))).collect();
    let mut ips = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        ips.push(fx.attach(
            &format!("p1-worker-{}", i + 1),
            &r.netns(),
            "p1_default",
            &["worker"],
        ));
    }
    {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send_to(&dns_query(1, "worker"), (net.gateway, 53))
            .unwrap();
        let mut buf = [0u8; 512];
        eprintln!(
            "raw query from host: {:?}",
            s.recv_from(&mut buf).map(|(n, _)| n)
        );
        eprintln!("{}", sh("ss -uanp | grep :53; ps aux | grep [_]_netd").1);
    }
    let got = lookup(&b, "worker", net.gateway);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, ips, "replicas");
    let again = lookup(&b, "worker", net.gateway);
    assert_ne!(got, again, "round robin order should rotate");
    // DNS over TCP (length-prefixed) answers the same names.
    {
        let mut t = TcpStream::connect_timeout(
            &SocketAddr::from((net.gateway, 53)),
            Duration::from_secs(2),
        )
        .expect("DNS over TCP");
        t.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let q = dns_query(9, "worker");
        t.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
        t.write_all(&q).unwrap();
        let mut len = [0u8; 2];
        t.read_exact(&mut len).unwrap();
        let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
        t.read_exact(&mut r).unwrap();
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 3, "TCP answer count");
    }
    // Live update: a replica goes away.
    fx.mgr.detach("p1-worker-3", None).expect("detach");
    assert_eq!(lookup(&b, "worker", net.gateway).len(), 2);

    // /etc/hosts content.
    let hosts = hosts_file(&HostsFile {
        hostname: "web".into(),
        domainname: None,
        addresses: vec![ip_a],
        extra_hosts: vec![],
    });
    assert!(hosts.contains(&format!("{ip_a}\tweb\n")));

    // SAFETY: killing the process group we created.
    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
    let _ = proc_b.wait();
    drop(replicas);
    fx.teardown_and_check();
}

fn ns_path(ns: &Netns) -> PathBuf {
    ns.path()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn published_tcp_udp_ports_and_preflight() {
    let mut fx = Fixture::new("10.202.0.0/16");
    let net = fx.net("p2_default", false);
    let mut c = Ns::new("rct-srv");
    let ip = fx.attach("p2-srv-1", &c.netns(), "p2_default", &["srv"]);
    c.serve("exec busybox nc -ll -p 80 -e /bin/echo tcp-hello");
    let udp = probe::udp_echo_in(&ns_path(&c.netns()), 53);

    let (tcp_port, udp_port) = (free_port(), free_port());
    let bindings = vec![
        PortBinding {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: HostPort::Fixed(tcp_port),
            container_ip: ip,
            container_port: 80,
        },
        PortBinding {
            protocol: Protocol::Udp,
            host_ip: None,
            host_port: HostPort::Fixed(udp_port),
            container_ip: ip,
            container_port: 53,
        },
        PortBinding {
            protocol: Protocol::Tcp,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: HostPort::Any,
            container_ip: ip,
            container_port: 80,
        },
        PortBinding {
            protocol: Protocol::Tcp,
            host_ip: Some("::1".parse().unwrap()),
            host_port: HostPort::Any,
            container_ip: ip,
            container_port: 80,
        },
    ];
    fx.mgr
        .check_ports(&bindings)
        .expect("preflight on free ports");
    let published = fx.mgr.publish("p2-srv-1", &bindings).expect("publish");
    assert_eq!(published[0].host_port, tcp_port);
    assert_ne!(published[2].host_port, 0);

    let fetch = |addr: SocketAddr| -> String {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let hip = host_ip();
    for addr in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, tcp_port)),
        SocketAddr::from((hip, tcp_port)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, published[2].host_port)),
        SocketAddr::new("::1".parse().unwrap(), published[3].host_port),
    ] {
        let got = fetch(addr);
        assert!(got.contains("tcp-hello"), "{addr}: {got:?}");
    }
    // From "another host": a namespace on another network reaching the host's IP.
    let mut fx2 = Fixture::new("10.212.0.0/16");
    fx2.net("p2x_default", false);
    let other = Ns::new("rct-oth");
    fx2.attach("p2x-o-1", &other.netns(), "p2x_default", &["o"]);
    let (ok, out) = other.run(&format!("busybox nc -w 3 {hip} {tcp_port} </dev/null"));
    assert!(
        ok && out.contains("tcp-hello"),
        "from another host via DNAT: {out}"
    );

    for target in [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(hip)] {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(b"ping", (target, udp_port)).unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = s
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("udp via {target}: {e}"));
        assert_eq!(&buf[..n], b"echo:ping");
    }

    // A second publish of the same port is refused, naming it.
    let err = fx.mgr.check_ports(&bindings[..1]).unwrap_err();
    assert!(
        matches!(err, NetError::PortInUse { port, .. } if port == tcp_port),
        "{err}"
    );
    assert!(
        err.to_string().contains("rcompose"),
        "holder should be netd: {err}"
    );

    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    let _ = s.send_to(b"quit", (Ipv4Addr::LOCALHOST, udp_port));
    let _ = udp.join();
    fx.mgr.unpublish("p2-srv-1").expect("unpublish");
    assert!(
        TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, tcp_port)),
            Duration::from_secs(1)
        )
        .is_err()
    );
    let _ = net;
    fx2.teardown_and_check();
    fx.teardown_and_check();
}

#[test]
fn port_in_use_is_reported_before_anything_is_created() {
    let fx = Fixture::new("10.203.0.0/16");
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let err = fx
        .mgr
        .check_ports(&[PortBinding {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: HostPort::Fixed(port),
            container_ip: Ipv4Addr::new(10, 203, 0, 2),
            container_port: 80,
        }])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("0.0.0.0:{port} is already in use")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(fx.mgr.state().unwrap().is_empty());
    assert!(!fx.mgr.run_dir().exists());
}

#[test]
fn internal_network_has_no_default_route_and_no_outbound() {
    let mut fx = Fixture::new("10.204.0.0/16");
    let net = fx.net("p4_back", true);
    let (a, mut b) = (Ns::new("rct-ia"), Ns::new("rct-ib"));
    fx.attach("p4-a-1", &a.netns(), "p4_back", &["a"]);
    let ip_b = fx.attach("p4-b-1", &b.netns(), "p4_back", &["b"]);
    let (_, routes) = a.run("ip route");
    assert!(!routes.contains("default"), "{routes}");
    // Inside the network: names and traffic work.
    assert_eq!(lookup(&a, "b", net.gateway), vec![ip_b]);
    b.serve("echo internal-ok | busybox nc -l -p 7001");
    let (ok, out) = a.run(&format!("busybox nc -w 3 {ip_b} 7001 </dev/null"));
    assert!(ok && out.contains("internal-ok"), "{out}");
    // Outbound: even with a route forced in, the forward chain drops it.
    let hip = host_ip();
    let (ok, out) = a.run(&format!(
        "ip route add default via {} && busybox ping -c1 -W2 1.1.1.1",
        net.gateway
    ));
    assert!(!ok, "internal network reached the outside: {out}");
    let _ = hip;
    fx.teardown_and_check();
}

#[test]
fn outbound_nat_reaches_the_debian_mirror() {
    let url = "http://deb.debian.org/debian/";
    let (ok, _) = sh(&format!("curl -s -m 10 -o /dev/null {url}"));
    if !ok {
        eprintln!("SKIP outbound_nat: the host itself cannot reach {url}");
        return;
    }
    let mut fx = Fixture::new("10.205.0.0/16");
    let net = fx.net("p5_default", false);
    let c = Ns::new("rct-eg");
    fx.attach("p5-c-1", &c.netns(), "p5_default", &["c"]);
    c.write_resolv_conf(&resolv_conf(
        &ResolvConf {
            gateway: Some(net.gateway),
            ..Default::default()
        },
        None,
    ));
    let (ok, out) = c.run("getent hosts deb.debian.org");
    assert!(ok, "forwarded lookup failed: {out}");
    let (ok, out) = c.run(&format!(
        "curl -sS -m 20 -o /dev/null -w %{{http_code}} {url}"
    ));
    assert!(ok && out.trim() == "200", "curl via NAT: {out}");
    fx.teardown_and_check();
}

#[test]
fn two_projects_with_same_network_names_are_isolated() {
    // One state root (like two `up`s on one host), one pool: the projects must get different
    // subnets and not see each other's names or traffic.
    let mut fx = Fixture::new("10.206.0.0/16");
    let n1 = fx.net("alpha_default", false);
    let n2 = fx.net("beta_default", false);
    assert_ne!(n1.subnet, n2.subnet);
    assert_ne!(n1.ifname, n2.ifname);
    let (a, b) = (Ns::new("rct-pa"), Ns::new("rct-pb"));
    let ip_a = fx.attach(
        "alpha-web-1",
        &a.netns(),
        "alpha_default",
        &["web", "only-alpha"],
    );
    let ip_b = fx.attach(
        "beta-web-1",
        &b.netns(),
        "beta_default",
        &["web", "only-beta"],
    );
    assert_eq!(lookup(&a, "web", n1.gateway), vec![ip_a]);
    assert_eq!(lookup(&b, "web", n2.gateway), vec![ip_b]);
    assert!(lookup(&a, "only-beta", n1.gateway).is_empty());
    // Asking the other project's DNS does not help either: its view is per network, and the
    // other subnet is not reachable.
    let (ok, _) = a.run(&format!("busybox ping -c1 -W1 {ip_b}"));
    assert!(!ok, "projects can reach each other");
    fx.teardown_and_check();
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
#[ignore = "benchmark: cargo test --test network_e2e -- --ignored --nocapture"]
fn bench_setup_and_dns_latency() {
    let mut fx = Fixture::new("10.207.0.0/16");
    let net = fx.net("bench_default", false);
    let n = 30;
    let nss: Vec<Ns> = (0..n).map(|i| Ns::new(&format!("rct-b{i}"))).collect();
    let mut times = Vec::new();
    for (i, ns) in nss.iter().enumerate() {
        let t = Instant::now();
        fx.attach(
            &format!("bench-c-{i}"),
            &ns.netns(),
            "bench_default",
            &["svc"],
        );
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "attach per container: median {:?}, min {:?}, p90 {:?}, max {:?} (n={n})",
        times[n / 2],
        times[0],
        times[n * 9 / 10],
        times[n - 1]
    );
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.connect((net.gateway, 53)).unwrap();
    let mut lat = Vec::new();
    let mut buf = [0u8; 1500];
    for i in 0..500u16 {
        let q = dns_query(i, "svc");
        let t = Instant::now();
        s.send(&q).unwrap();
        let m = s.recv(&mut buf).unwrap();
        lat.push(t.elapsed());
        assert!(m > q.len());
    }
    lat.sort();
    eprintln!(
        "DNS answer ({n} A records): median {:?}, p90 {:?}, p99 {:?}",
        lat[250], lat[450], lat[495]
    );
    let t = Instant::now();
    for i in 0..n {
        fx.mgr.detach(&format!("bench-c-{i}"), None).unwrap();
    }
    eprintln!("detach per container: mean {:?}", t.elapsed() / n as u32);
    let t = Instant::now();
    fx.teardown_and_check();
    eprintln!("remove network (+ netd exit): {:?}", t.elapsed());
    let _ = Write::flush(&mut std::io::stderr());
}

#[test]
fn concurrent_projects_get_distinct_subnets_and_static_addresses_are_checked() {
    // Two "rcompose up"s at once on one state root: the state lock serializes IPAM.
    let mut fx = Fixture::new("10.208.0.0/16");
    let state = fx.mgr.clone();
    let handles: Vec<_> = ["c1", "c2"]
        .into_iter()
        .map(|p| {
            let m = state.clone();
            std::thread::spawn(move || {
                (0..3)
                    .map(|i| {
                        m.ensure_network(&NetworkSpec {
                            name: format!("{p}_n{i}"),
                            ..Default::default()
                        })
                        .expect("ensure_network")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut subnets = Vec::new();
    for h in handles {
        for info in h.join().expect("thread") {
            fx.ifnames.push(info.ifname.clone());
            subnets.push(info.subnet);
        }
    }
    subnets.sort();
    subnets.dedup();
    assert_eq!(subnets.len(), 6, "{subnets:?}");
    // Idempotent.
    let again = fx
        .mgr
        .ensure_network(&NetworkSpec {
            name: "c1_n0".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(subnets.contains(&again.subnet));
    // A given subnet overlapping another network is refused.
    let err = fx
        .mgr
        .ensure_network(&NetworkSpec {
            name: "c3_x".into(),
            subnet: Some(again.subnet),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, NetError::SubnetOverlap { .. }), "{err}");
    // Static ipv4_address, then the same address again.
    let want = again.subnet.nth(50).unwrap();
    let (a, b) = (Ns::new("rct-sa"), Ns::new("rct-sb"));
    let eps = fx
        .mgr
        .attach(
            "c1-a-1",
            &a.netns(),
            &[Attachment {
                network: "c1_n0".into(),
                ipv4: Some(want),
                ..Default::default()
            }],
        )
        .unwrap();
    fx.ifnames.push(eps[0].host_ifname.clone());
    assert_eq!(eps[0].ipv4, want);
    let (_, addr) = a.run("ip -o -4 addr show eth0");
    assert!(addr.contains(&format!("{want}/24")), "{addr}");
    let err = fx
        .mgr
        .attach(
            "c1-b-1",
            &b.netns(),
            &[Attachment {
                network: "c1_n0".into(),
                ipv4: Some(want),
                ..Default::default()
            }],
        )
        .unwrap_err();
    assert!(matches!(err, NetError::AddressUnavailable { .. }), "{err}");
    let (_, links) = b.run("ip -o link");
    assert!(
        !links.contains("eth0"),
        "failed attach left an interface: {links}"
    );
    fx.teardown_and_check();
}
