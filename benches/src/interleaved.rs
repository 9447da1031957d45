//! Round trips with the peers interleaved round by round, and the per-round ratios between
//! them: how the round-trip targets (issue 17, item 4: a peer's time ÷ a floor's *in the same
//! run*) are measured on a machine whose speed moves from minute to minute.
//!
//! Criterion times each benchmark on its own, one after another; on a VM whose host places
//! its vCPUs differently from one minute to the next, a row and its floor can come from
//! placements 3× apart. Here each round makes every peer afresh (a new echo process, so no
//! idle peer spins or yields while another is timed), runs `n / 10` untimed and `n` timed
//! round trips, and drops it, peers one after another; [`rounds`] returns each peer's time per
//! round trip in each round, [`ratios`] divides two peers' times round by round, and [`Spread`]
//! summarises rounds or ratios (median, quartiles, extremes).
//!
//! `src/bin/rtt.rs` (any peers, by name) and the report (the peers of its round-trip targets,
//! by [`peer`]) both run this.
//!
//! ```no_run
//! use benches::ids::xproc_roundtrip as id;
//! use benches::interleaved::{peer, ratios, rounds, Spread};
//!
//! let peers = [peer(id::RAW_QUEUE).unwrap(), peer(id::MAILBOX_FLOOR).unwrap()];
//! let times = rounds(&peers, 50_000, 11, |p| (p.make)());
//! let (raw, mailbox) = (times[0].as_ref().unwrap(), times[1].as_ref().unwrap());
//! let r = Spread::of(&ratios(raw, mailbox)).unwrap();
//! println!("RawQueue ÷ mailbox: {:.2}× ({:.2}-{:.2}×)", r.median, r.q1, r.q3);
//! ```

use std::io;
use std::time::Instant;

use crate::host_queue::U64Echo;
use crate::ids::xproc_roundtrip as id;
use crate::roundtrip::{self, Peer, RoundTrip};

/// Each peer's time per round trip (ns) in each round, in the order of the peers given; or why
/// the peer could not be made (it is then left out of the rounds after, and its earlier rounds
/// dropped, so the times of the peers that remain line up round by round).
pub type Times = Vec<Result<Vec<f64>, String>>;

/// Runs `rounds` rounds; in each, for every peer in turn: `make` it, `n / 10` untimed round
/// trips, `n` timed together, drop it.
///
/// # Panics
///
/// If a round trip fails (each checks the message that comes back).
pub fn rounds<P>(
    peers: &[P],
    n: u64,
    rounds: usize,
    mut make: impl FnMut(&P) -> io::Result<Box<dyn RoundTrip>>,
) -> Times {
    let mut times: Times = peers
        .iter()
        .map(|_| Ok(Vec::with_capacity(rounds)))
        .collect();
    for _ in 0..rounds {
        for (p, acc) in peers.iter().zip(times.iter_mut()) {
            let Ok(v) = acc else { continue };
            let mut rt = match make(p) {
                Ok(rt) => rt,
                Err(e) => {
                    *acc = Err(e.to_string());
                    continue;
                }
            };
            for _ in 0..n / 10 {
                rt.round_trip();
            }
            let t = Instant::now();
            for _ in 0..n {
                rt.round_trip();
            }
            v.push(t.elapsed().as_nanos() as f64 / n.max(1) as f64);
        }
    }
    times
}

/// `a[i] / b[i]` for each round `i` both have.
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// Median, quartiles and extremes of a set of figures (per-round times or ratios).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// How many figures.
    pub n: usize,
    /// The median (the mean of the two middle figures of an even count).
    pub median: f64,
    /// The first quartile (linear between the closest ranks).
    pub q1: f64,
    /// The third quartile.
    pub q3: f64,
    /// The smallest figure.
    pub min: f64,
    /// The largest figure.
    pub max: f64,
}

impl Spread {
    /// The spread of `figures`, or `None` if there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = benches::interleaved::Spread::of(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
    /// assert_eq!((s.median, s.q1, s.q3, s.min, s.max), (3.0, 2.0, 4.0, 1.0, 5.0));
    /// assert_eq!(benches::interleaved::Spread::of(&[1.0, 2.0]).unwrap().median, 1.5);
    /// ```
    pub fn of(figures: &[f64]) -> Option<Spread> {
        let mut v = figures.to_vec();
        v.sort_by(f64::total_cmp);
        let (first, last) = (*v.first()?, *v.last()?);
        // Linear between the closest ranks (rank (len - 1) * q of the sorted figures).
        let at = |q: f64| {
            let h = (v.len() - 1) as f64 * q;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(v.len() - 1);
            v[lo] + (h - lo as f64) * (v[hi] - v[lo])
        };
        Some(Spread {
            n: v.len(),
            median: at(0.5),
            q1: at(0.25),
            q3: at(0.75),
            min: first,
            max: last,
        })
    }
}

/// The round-trip peer named `name`: one of [`roundtrip::peers`] (the criterion rows of
/// `xproc_roundtrip_64B`, made the same way), or [`id::QUEUE_U64`], a [`U64Echo`] (two
/// `Queue<u64>`s of capacity 16). `None` for another name (or iceoryx2's in a build without
/// its cargo feature).
pub fn peer(name: &str) -> Option<Peer> {
    if name == id::QUEUE_U64 {
        return Some(Peer {
            name: id::QUEUE_U64,
            make: || Ok(Box::new(U64Echo::spawn(None)?)),
        });
    }
    roundtrip::peers().into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_an_even_count_interpolates() {
        let s = Spread::of(&[10.0, 40.0, 20.0, 30.0]).expect("figures");
        assert_eq!(s.n, 4);
        assert_eq!(s.median, 25.0);
        assert_eq!(s.q1, 17.5);
        assert_eq!(s.q3, 32.5);
        assert_eq!((s.min, s.max), (10.0, 40.0));
        assert_eq!(Spread::of(&[]), None);
        let one = Spread::of(&[7.0]).expect("one figure");
        assert_eq!((one.median, one.q1, one.q3), (7.0, 7.0, 7.0));
    }

    #[test]
    fn ratios_pair_the_rounds() {
        assert_eq!(ratios(&[4.0, 9.0, 8.0], &[2.0, 3.0]), vec![2.0, 3.0]);
    }

    #[test]
    fn a_peer_that_cannot_be_made_leaves_the_others_in_step() {
        struct Nop;
        impl RoundTrip for Nop {
            fn round_trip(&mut self) {}
        }
        let mut made = [0; 2];
        let times = rounds(&[0usize, 1], 100, 3, |&p| {
            made[p] += 1;
            match (p, made[p]) {
                (1, 2) => Err(io::Error::other("no more")),
                _ => Ok(Box::new(Nop)),
            }
        });
        assert_eq!(times[0].as_ref().map(Vec::len), Ok(3));
        assert_eq!(times[1], Err("no more".to_string()));
        // Tried once more after the first round, not again.
        assert_eq!(made, [3, 2]);
    }

    #[test]
    fn real_peers_in_step() {
        // Forks: a `Queue<u64>` echo and the one-word floor, two short rounds each.
        let peers = [id::QUEUE_U64, id::FLOOR].map(|n| peer(n).expect("a peer"));
        let times = rounds(&peers, 200, 2, |p| (p.make)());
        for t in &times {
            let t = t.as_ref().expect("measured");
            assert_eq!(t.len(), 2);
            assert!(t.iter().all(|&ns| ns > 0.0), "{t:?}");
        }
    }

    #[test]
    fn peers_by_name() {
        assert_eq!(peer(id::QUEUE_U64).map(|p| p.name), Some(id::QUEUE_U64));
        assert_eq!(
            peer(id::MAILBOX_FLOOR).map(|p| p.name),
            Some(id::MAILBOX_FLOOR)
        );
        assert!(peer("no such peer").is_none());
    }
}
