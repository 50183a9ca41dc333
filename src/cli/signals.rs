//! Ctrl-C for long-running commands: SIGINT/SIGTERM are blocked in every thread and received by
//! one thread with `sigwait`, which turns them into messages. (Children get a clean signal mask:
//! std's `Command` resets it before exec.)

use std::sync::mpsc::Sender;

use nix::sys::signal::{SigSet, Signal};

/// Route SIGINT/SIGTERM to `on_signal` (called with the count so far: 1, 2, ...). Call before
/// spawning other threads so they inherit the blocked mask.
pub fn route<T: Send + 'static>(tx: Sender<T>, make: impl Fn(u32) -> T + Send + 'static) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        let mut n = 0;
        while set.wait().is_ok() {
            n += 1;
            if tx.send(make(n)).is_err() {
                break;
            }
        }
    });
}
