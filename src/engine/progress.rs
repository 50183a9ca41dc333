//! Progress events: what the engine reports while it works (one event per resource state
//! change), and the sink trait the CLI renders them through (plain lines, a live TTY view,
//! JSON lines or nothing). The engine never prints.

use std::sync::Mutex;

/// The kind of resource an event is about, as docker compose names them in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Image,
    Network,
    Volume,
    Container,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Image => "Image",
            ResourceKind::Network => "Network",
            ResourceKind::Volume => "Volume",
            ResourceKind::Container => "Container",
        }
    }
}

/// A resource's state, with docker compose's wording (`Display` gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pulling,
    Pulled,
    Building,
    Built,
    Creating,
    Created,
    Recreate,
    Recreated,
    Starting,
    Started,
    Running,
    Waiting,
    Healthy,
    Exited,
    Stopping,
    Stopped,
    Killing,
    Killed,
    Restarting,
    Restarted,
    Pausing,
    Paused,
    Unpausing,
    Unpaused,
    Removing,
    Removed,
    Warning,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pulling => "Pulling",
            Status::Pulled => "Pulled",
            Status::Building => "Building",
            Status::Built => "Built",
            Status::Creating => "Creating",
            Status::Created => "Created",
            Status::Recreate => "Recreate",
            Status::Recreated => "Recreated",
            Status::Starting => "Starting",
            Status::Started => "Started",
            Status::Running => "Running",
            Status::Waiting => "Waiting",
            Status::Healthy => "Healthy",
            Status::Exited => "Exited",
            Status::Stopping => "Stopping",
            Status::Stopped => "Stopped",
            Status::Killing => "Killing",
            Status::Killed => "Killed",
            Status::Restarting => "Restarting",
            Status::Restarted => "Restarted",
            Status::Pausing => "Pausing",
            Status::Paused => "Paused",
            Status::Unpausing => "Unpausing",
            Status::Unpaused => "Unpaused",
            Status::Removing => "Removing",
            Status::Removed => "Removed",
            Status::Warning => "Warning",
            Status::Error => "Error",
        }
    }

    /// Whether the resource's operation is finished (a renderer shows a tick or a cross).
    pub fn is_done(self) -> bool {
        !matches!(
            self,
            Status::Pulling
                | Status::Building
                | Status::Creating
                | Status::Recreate
                | Status::Starting
                | Status::Waiting
                | Status::Stopping
                | Status::Killing
                | Status::Restarting
                | Status::Pausing
                | Status::Unpausing
                | Status::Removing
        )
    }

    pub fn is_error(self) -> bool {
        matches!(self, Status::Error)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state change of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: ResourceKind,
    /// Full resource name (`myproj-web-1`, `myproj_default`, `busybox:1`).
    pub name: String,
    pub status: Status,
    /// Extra text (an error message, a pull progress figure, "Pulled from cache").
    pub detail: Option<String>,
}

impl Event {
    pub fn new(kind: ResourceKind, name: impl Into<String>, status: Status) -> Self {
        Event {
            kind,
            name: name.into(),
            status,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Where the engine sends its events. Called from several threads at once.
pub trait ProgressSink: Send + Sync {
    fn event(&self, event: Event);
    /// The engine is done; a live view finishes its last frame.
    fn finish(&self) {}
}

/// Discards events (`--progress quiet`, and library callers that do not care).
#[derive(Debug, Default)]
pub struct Quiet;

impl ProgressSink for Quiet {
    fn event(&self, _: Event) {}
}

/// Keeps events in memory (tests assert on the sequence).
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<Event>>);

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl ProgressSink for Recorder {
    fn event(&self, event: Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}
