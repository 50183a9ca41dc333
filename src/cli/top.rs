//! `rcompose top [SERVICE...]`: the processes of the project's running containers in one table,
//! `SERVICE # UID PID PPID C STIME TTY TIME CMD`, as docker compose 2.40 prints it.

use clap::Args;

use super::GlobalArgs;
use super::output::align;
use super::session;
use crate::engine::procs::{ContainerTop, TITLES};
use crate::engine::progress::Quiet;

#[derive(Debug, Args)]
pub struct TopArgs {
    pub services: Vec<String>,
}

/// The table (empty when no container has a process), aligned like Go's
/// `tabwriter.NewWriter(out, 4, 1, 2, ' ', 0)`.
pub fn render(containers: &[ContainerTop]) -> String {
    let mut text = String::new();
    for c in containers {
        for p in &c.processes {
            text.push_str(&format!("{}\t{}\t{}\n", c.service, c.replica, p.join("\t")));
        }
    }
    if text.is_empty() {
        return text;
    }
    let header = format!("SERVICE\t#\t{}\n", TITLES.join("\t"));
    align(&(header + &text), 4, 2)
}

pub fn top(global: &GlobalArgs, args: &TopArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    let containers = s.engine.top(&s.ctx.name, &args.services)?;
    print!("{}", render(&containers));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_for_all_containers() {
        let row = |pid: &str, cmd: &str| {
            ["root", pid, "7778", "0", "03:47", "?", "00:00:00", cmd]
                .map(String::from)
                .to_vec()
        };
        let containers = [
            ContainerTop {
                name: "p-web-1".into(),
                service: "web".into(),
                replica: "1".into(),
                processes: vec![row("7804", "httpd -f -p 8080")],
            },
            ContainerTop {
                name: "p-worker-run-1".into(),
                service: "worker".into(),
                replica: String::new(),
                processes: vec![row("10822", "sleep 100")],
            },
        ];
        assert_eq!(
            render(&containers),
            "SERVICE  #   UID   PID    PPID  C   STIME  TTY  TIME      CMD\n\
             web      1   root  7804   7778  0   03:47  ?    00:00:00  httpd -f -p 8080\n\
             worker       root  10822  7778  0   03:47  ?    00:00:00  sleep 100\n"
        );
        assert_eq!(render(&[]), "");
    }
}
