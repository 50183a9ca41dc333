//! Desired state against observed state: for each service, which containers to keep, start,
//! create, recreate, restart or remove, and why. This is the pure core of a second `up`: only
//! services whose config hash or image changed are recreated, `restart: true` dependents of a
//! recreated service restart, scaling removes the highest numbers first, and containers of
//! services the project no longer has are orphans.

use std::collections::BTreeMap;

use super::graph::ServiceGraph;

/// What the project wants of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub service: String,
    pub replicas: u32,
    /// `config --hash` of the service.
    pub config_hash: String,
    /// The image ID the service's containers should run.
    pub image_id: String,
}

/// A container found in the runtime (from its `com.docker.compose.*` labels and state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub name: String,
    pub service: String,
    pub number: u32,
    pub config_hash: String,
    pub image_id: String,
    pub running: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    ConfigChanged,
    ImageChanged,
    Forced,
    ScaledDown,
    Orphan,
    DependencyRecreated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Keep {
        container: String,
    },
    Start {
        container: String,
    },
    Create {
        service: String,
        number: u32,
    },
    Recreate {
        container: String,
        service: String,
        number: u32,
        why: Why,
    },
    Restart {
        container: String,
        why: Why,
    },
    Remove {
        container: String,
        why: Why,
    },
    /// An orphan left in place (without `--remove-orphans`): reported, not touched.
    ReportOrphan {
        container: String,
        service: String,
    },
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
}

/// The actions that take `observed` to `desired`, grouped by service in `desired` order.
pub fn diff(
    desired: &[Desired],
    observed: &[Observed],
    graph: &ServiceGraph,
    opts: Options,
) -> Vec<Action> {
    let mut by_service: BTreeMap<&str, Vec<&Observed>> = BTreeMap::new();
    for o in observed {
        by_service.entry(o.service.as_str()).or_default().push(o);
    }
    let mut actions = Vec::new();
    let mut recreated: Vec<String> = Vec::new();
    for want in desired {
        let mut have = by_service.remove(want.service.as_str()).unwrap_or_default();
        have.sort_by_key(|o| o.number);
        let (kept, extra): (Vec<&Observed>, Vec<&Observed>) =
            have.into_iter().partition(|o| o.number <= want.replicas);
        for o in extra.iter().rev() {
            actions.push(Action::Remove {
                container: o.name.clone(),
                why: Why::ScaledDown,
            });
        }
        for o in &kept {
            let action = converge(want, o, opts);
            if matches!(action, Action::Recreate { .. }) && !recreated.contains(&want.service) {
                recreated.push(want.service.clone());
            }
            actions.push(action);
        }
        let used: Vec<u32> = kept.iter().map(|o| o.number).collect();
        let missing = (1..=want.replicas).filter(|n| !used.contains(n));
        actions.extend(missing.map(|number| Action::Create {
            service: want.service.clone(),
            number,
        }));
    }
    restart_dependents(&mut actions, &recreated, observed, graph);
    for (service, containers) in by_service {
        for o in containers {
            actions.push(match opts.remove_orphans {
                true => Action::Remove {
                    container: o.name.clone(),
                    why: Why::Orphan,
                },
                false => Action::ReportOrphan {
                    container: o.name.clone(),
                    service: service.to_string(),
                },
            });
        }
    }
    actions
}

fn converge(want: &Desired, o: &Observed, opts: Options) -> Action {
    let why = if opts.force_recreate {
        Some(Why::Forced)
    } else if o.config_hash != want.config_hash {
        Some(Why::ConfigChanged)
    } else if o.image_id != want.image_id {
        Some(Why::ImageChanged)
    } else {
        None
    };
    match why {
        Some(why) if !opts.no_recreate => Action::Recreate {
            container: o.name.clone(),
            service: want.service.clone(),
            number: o.number,
            why,
        },
        _ if !o.running => Action::Start {
            container: o.name.clone(),
        },
        _ => Action::Keep {
            container: o.name.clone(),
        },
    }
}

/// Running containers kept as they are get restarted when a service they depend on with
/// `restart: true` is recreated.
fn restart_dependents(
    actions: &mut [Action],
    recreated: &[String],
    observed: &[Observed],
    graph: &ServiceGraph,
) {
    let dependents: Vec<String> = recreated
        .iter()
        .flat_map(|s| graph.restart_dependents(s))
        .collect();
    for action in actions.iter_mut() {
        let Action::Keep { container } = action else {
            continue;
        };
        let service = observed
            .iter()
            .find(|o| &o.name == container)
            .map(|o| o.service.as_str());
        if service.is_some_and(|s| dependents.iter().any(|d| d == s)) {
            *action = Action::Restart {
                container: container.clone(),
                why: Why::DependencyRecreated,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::decode::decode;
    use crate::compose::model::Project;
    use crate::compose::node::KeyPath;
    use crate::compose::yaml::parse_documents;

    fn graph() -> ServiceGraph {
        let text = "name: p\nservices:\n  db: {image: db}\n  web: {image: w, depends_on: {db: {condition: service_healthy, restart: true}}}\n  cache: {image: c}\n";
        let node = parse_documents(text, "d.yaml").expect("yaml").remove(0);
        let project: Project = decode(&node, &KeyPath::root()).expect("project");
        ServiceGraph::new(&project).expect("graph")
    }

    fn want(service: &str, replicas: u32, hash: &str) -> Desired {
        Desired {
            service: service.into(),
            replicas,
            config_hash: hash.into(),
            image_id: "img".into(),
        }
    }

    fn have(service: &str, number: u32, hash: &str, running: bool) -> Observed {
        Observed {
            name: format!("p-{service}-{number}"),
            service: service.into(),
            number,
            config_hash: hash.into(),
            image_id: "img".into(),
            running,
        }
    }

    #[test]
    fn first_up_creates_everything() {
        let actions = diff(
            &[want("db", 1, "h1"), want("web", 2, "h2")],
            &[],
            &graph(),
            Options::default(),
        );
        assert_eq!(
            actions,
            vec![
                Action::Create {
                    service: "db".into(),
                    number: 1
                },
                Action::Create {
                    service: "web".into(),
                    number: 1
                },
                Action::Create {
                    service: "web".into(),
                    number: 2
                },
            ]
        );
    }

    #[test]
    fn only_the_changed_service_is_recreated_and_restart_dependents_restart() {
        let observed = [
            have("db", 1, "old", true),
            have("web", 1, "h2", true),
            have("cache", 1, "h3", true),
        ];
        let desired = [
            want("db", 1, "new"),
            want("web", 1, "h2"),
            want("cache", 1, "h3"),
        ];
        let actions = diff(&desired, &observed, &graph(), Options::default());
        assert_eq!(
            actions,
            vec![
                Action::Recreate {
                    container: "p-db-1".into(),
                    service: "db".into(),
                    number: 1,
                    why: Why::ConfigChanged
                },
                Action::Restart {
                    container: "p-web-1".into(),
                    why: Why::DependencyRecreated
                },
                Action::Keep {
                    container: "p-cache-1".into()
                },
            ]
        );
    }

    #[test]
    fn scaling_up_and_down() {
        let observed = [
            have("web", 1, "h", true),
            have("web", 2, "h", true),
            have("web", 3, "h", false),
        ];
        let down = diff(
            &[want("web", 1, "h")],
            &observed,
            &graph(),
            Options::default(),
        );
        assert_eq!(
            down,
            vec![
                Action::Remove {
                    container: "p-web-3".into(),
                    why: Why::ScaledDown
                },
                Action::Remove {
                    container: "p-web-2".into(),
                    why: Why::ScaledDown
                },
                Action::Keep {
                    container: "p-web-1".into()
                },
            ]
        );
        let up = diff(
            &[want("web", 4, "h")],
            &observed,
            &graph(),
            Options::default(),
        );
        assert!(up.contains(&Action::Start {
            container: "p-web-3".into()
        }));
        assert!(up.contains(&Action::Create {
            service: "web".into(),
            number: 4
        }));
    }

    #[test]
    fn image_change_force_and_no_recreate() {
        let mut o = have("cache", 1, "h", true);
        o.image_id = "older".into();
        let d = [want("cache", 1, "h")];
        let a = diff(&d, std::slice::from_ref(&o), &graph(), Options::default());
        assert!(matches!(
            a[0],
            Action::Recreate {
                why: Why::ImageChanged,
                ..
            }
        ));
        let a = diff(
            &d,
            std::slice::from_ref(&o),
            &graph(),
            Options {
                no_recreate: true,
                ..Options::default()
            },
        );
        assert_eq!(
            a,
            vec![Action::Keep {
                container: "p-cache-1".into()
            }]
        );
        let same = have("cache", 1, "h", true);
        let a = diff(
            &d,
            &[same],
            &graph(),
            Options {
                force_recreate: true,
                ..Options::default()
            },
        );
        assert!(matches!(
            a[0],
            Action::Recreate {
                why: Why::Forced,
                ..
            }
        ));
    }

    #[test]
    fn orphans_are_reported_or_removed() {
        let observed = [have("gone", 1, "h", true)];
        let a = diff(&[], &observed, &graph(), Options::default());
        assert_eq!(
            a,
            vec![Action::ReportOrphan {
                container: "p-gone-1".into(),
                service: "gone".into()
            }]
        );
        let a = diff(
            &[],
            &observed,
            &graph(),
            Options {
                remove_orphans: true,
                ..Options::default()
            },
        );
        assert_eq!(
            a,
            vec![Action::Remove {
                container: "p-gone-1".into(),
                why: Why::Orphan
            }]
        );
    }
}
