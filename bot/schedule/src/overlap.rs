//! What a run does when its target is still busy with the previous one.

use serde::{Deserialize, Serialize};

/// A job's overlap policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Drop the run, with a silent note.
    #[default]
    Skip,
    /// Send it when the target is next idle at its prompt (one queued run at most).
    Queue,
    /// Type it in anyway.
    Send,
}

/// The target session as the console sees it when a run fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetState {
    /// Idle at its prompt (or, for a new-session job, no session of the job's running).
    Idle,
    /// Working on something.
    Busy,
    /// Working, and a run of this job already waits for it to be idle.
    BusyWithQueued,
}

/// What the console does with a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Send,
    /// Hold it until the target is idle.
    Queue,
    /// Record it as "skipped (busy)" and post a silent note.
    Skip,
}

impl Overlap {
    /// The delivery for a run given the target's state. A queue never holds two runs of the
    /// same job: the newer is skipped, so a target busy for hours gets one run, not a pile.
    pub fn delivery(self, target: TargetState) -> Delivery {
        match (target, self) {
            (TargetState::Idle, _) | (_, Overlap::Send) => Delivery::Send,
            (TargetState::Busy, Overlap::Queue) => Delivery::Queue,
            (TargetState::Busy | TargetState::BusyWithQueued, _) => Delivery::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_and_state() {
        use Delivery as D;
        use TargetState as T;
        let table = [
            (Overlap::Skip, T::Idle, D::Send),
            (Overlap::Skip, T::Busy, D::Skip),
            (Overlap::Skip, T::BusyWithQueued, D::Skip),
            (Overlap::Queue, T::Idle, D::Send),
            (Overlap::Queue, T::Busy, D::Queue),
            (Overlap::Queue, T::BusyWithQueued, D::Skip),
            (Overlap::Send, T::Idle, D::Send),
            (Overlap::Send, T::Busy, D::Send),
            (Overlap::Send, T::BusyWithQueued, D::Send),
        ];
        for (policy, state, want) in table {
            assert_eq!(policy.delivery(state), want, "{policy:?} {state:?}");
        }
        assert_eq!(Overlap::default(), Overlap::Skip);
    }
}
