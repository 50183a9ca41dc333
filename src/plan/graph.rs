//! The dependency graph of a project's services, built with petgraph: which services start
//! before which (in levels, so independent services start together), the reverse order for
//! stopping, and which dependents a recreated service takes with it (`restart: true`).

use std::collections::HashMap;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::compose::model::{Condition, Project};

/// What a service waits for on one of its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub condition: Condition,
    pub required: bool,
    pub restart: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("dependency cycle detected: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// Services as nodes, an edge from each service to each dependency it has in the project.
pub struct ServiceGraph {
    graph: DiGraph<String, Edge>,
    index: HashMap<String, NodeIndex>,
}

impl ServiceGraph {
    /// Dependencies on services not in `project` (disabled by profiles, or optional) are left out.
    pub fn new(project: &Project) -> Result<Self, GraphError> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for name in project.services.keys() {
            index.insert(name.clone(), graph.add_node(name.clone()));
        }
        for (name, service) in &project.services {
            for (dep, d) in &service.depends_on {
                let Some(&to) = index.get(dep) else { continue };
                let edge = Edge {
                    condition: d.condition,
                    required: d.required,
                    restart: d.restart,
                };
                graph.add_edge(index[name], to, edge);
            }
        }
        let g = ServiceGraph { graph, index };
        g.check_cycles()?;
        Ok(g)
    }

    fn check_cycles(&self) -> Result<(), GraphError> {
        let cycles = petgraph::algo::tarjan_scc(&self.graph);
        for scc in cycles {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() > 1 || self_loop {
                let mut names: Vec<String> =
                    scc.iter().rev().map(|&i| self.graph[i].clone()).collect();
                names.push(names[0].clone());
                return Err(GraphError::Cycle(names));
            }
        }
        Ok(())
    }

    /// Start order: each level holds services whose dependencies are all in earlier levels.
    pub fn start_levels(&self) -> Vec<Vec<String>> {
        self.levels(Direction::Outgoing)
    }

    /// Stop order: dependents before their dependencies.
    pub fn stop_levels(&self) -> Vec<Vec<String>> {
        self.levels(Direction::Incoming)
    }

    fn levels(&self, towards: Direction) -> Vec<Vec<String>> {
        let mut remaining: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| (n, self.graph.neighbors_directed(n, towards).count()))
            .collect();
        let mut levels = Vec::new();
        while !remaining.is_empty() {
            let mut ready: Vec<NodeIndex> = remaining
                .iter()
                .filter(|(_, d)| **d == 0)
                .map(|(n, _)| *n)
                .collect();
            if ready.is_empty() {
                break; // cycles were rejected in new(); nothing else can leave nodes waiting
            }
            ready.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            for n in &ready {
                remaining.remove(n);
                for waiting in self.graph.neighbors_directed(*n, towards.opposite()) {
                    if let Some(d) = remaining.get_mut(&waiting) {
                        *d -= 1;
                    }
                }
            }
            levels.push(ready.iter().map(|n| self.graph[*n].clone()).collect());
        }
        levels
    }

    /// The direct dependencies of `service`, with what it waits for on each.
    pub fn dependencies(&self, service: &str) -> Vec<(String, Edge)> {
        let Some(&n) = self.index.get(service) else {
            return Vec::new();
        };
        let mut deps: Vec<(String, Edge)> = self
            .graph
            .edges_directed(n, Direction::Outgoing)
            .map(|e| {
                (
                    self.graph[petgraph::visit::EdgeRef::target(&e)].clone(),
                    e.weight().clone(),
                )
            })
            .collect();
        deps.sort_by(|a, b| a.0.cmp(&b.0));
        deps
    }

    /// Services that must be restarted when `service` is recreated: those depending on it with
    /// `restart: true`, transitively.
    pub fn restart_dependents(&self, service: &str) -> Vec<String> {
        let Some(&start) = self.index.get(service) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut todo = vec![start];
        while let Some(n) = todo.pop() {
            for e in self.graph.edges_directed(n, Direction::Incoming) {
                let dependent = petgraph::visit::EdgeRef::source(&e);
                let name = &self.graph[dependent];
                if e.weight().restart && !out.contains(name) {
                    out.push(name.clone());
                    todo.push(dependent);
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::decode::decode;
    use crate::compose::node::KeyPath;
    use crate::compose::yaml::parse_documents;

    fn project(services: &str) -> Project {
        let text = format!("name: p\nservices:\n{services}");
        let node = parse_documents(&text, "g.yaml").expect("yaml").remove(0);
        decode(&node, &KeyPath::root()).expect("project")
    }

    const THREE_TIER: &str = "  db: {image: db}\n  migrate: {image: m, depends_on: {db: {condition: service_healthy}}}\n  web: {image: w, depends_on: {db: {condition: service_healthy, restart: true}, migrate: {condition: service_completed_successfully}}}\n  cache: {image: c}\n  worker: {image: k, depends_on: {web: {condition: service_started, restart: true}}}\n";

    #[test]
    fn start_and_stop_levels() {
        let g = ServiceGraph::new(&project(THREE_TIER)).unwrap();
        assert_eq!(
            g.start_levels(),
            vec![
                vec!["cache", "db"],
                vec!["migrate"],
                vec!["web"],
                vec!["worker"]
            ]
        );
        assert_eq!(
            g.stop_levels(),
            vec![
                vec!["cache", "worker"],
                vec!["web"],
                vec!["migrate"],
                vec!["db"]
            ]
        );
    }

    #[test]
    fn dependencies_and_restart_dependents() {
        let g = ServiceGraph::new(&project(THREE_TIER)).unwrap();
        let deps = g.dependencies("web");
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[0].0, "db");
        assert_eq!(deps[0].1.condition, Condition::ServiceHealthy);
        assert_eq!(deps[1].1.condition, Condition::ServiceCompletedSuccessfully);
        assert_eq!(g.restart_dependents("db"), vec!["web", "worker"]);
        assert!(g.restart_dependents("migrate").is_empty());
    }

    #[test]
    fn cycles_are_rejected() {
        let p = project("  a: {image: a, depends_on: [b]}\n  b: {image: b, depends_on: [a]}\n");
        let err = ServiceGraph::new(&p).err().expect("cycle");
        assert!(
            err.to_string().starts_with("dependency cycle detected: "),
            "{err}"
        );
    }

    #[test]
    fn missing_dependencies_are_ignored() {
        let p = project(
            "  a: {image: a, depends_on: {gone: {condition: service_started, required: false}}}\n",
        );
        let g = ServiceGraph::new(&p).unwrap();
        assert_eq!(g.start_levels(), vec![vec!["a"]]);
    }
}
