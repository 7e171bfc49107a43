//! The downtime model: how long an account will be frozen when it moves, from its
//! sizes and the downtimes measured on earlier cutovers. Pure (no I/O): the samples
//! and the account are given: [`crate::estimates`] reads them from the log and the
//! inventory, [`crate::routes`] serves the result.
//!
//! The model is linear in four terms: a fixed cost (freeze, final sync start,
//! switch), the account's files and mails (the final sync and the listing check walk
//! the trees), its databases copied by dump and restore while frozen, and its
//! databases copied by replication (only the last changes and the verification are
//! frozen). Each measured cutover is one equation; the rates are fitted by least
//! squares, pulled towards prior rates (the host's own "one minute per gigabyte of
//! databases" for dumps) weighing a tenth of one measurement, so that the first
//! cutovers already count and a rate they cannot tell apart stays at its prior.

use ferry_events::{AccountSpec, DatabaseMethod, DatabaseSpec};

const GB: f64 = 1_073_741_824.0;

/// What one measured cutover froze and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The account's files and mails, in bytes.
    pub tree_bytes: u64,
    /// Its databases copied by dump and restore, in bytes.
    pub dumped_bytes: u64,
    /// Its databases copied by replication, in bytes.
    pub replicated_bytes: u64,
    /// The downtime measured, in milliseconds.
    pub downtime_ms: u64,
}

impl Sample {
    fn features(&self) -> [f64; 4] {
        [
            1.0,
            self.tree_bytes as f64 / GB,
            self.dumped_bytes as f64 / GB,
            self.replicated_bytes as f64 / GB,
        ]
    }
}

/// Milliseconds of downtime: fixed, and per gigabyte of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Per cutover.
    pub fixed_ms: f64,
    /// Per GB of files and mails.
    pub tree_ms_per_gb: f64,
    /// Per GB of databases dumped and restored while frozen.
    pub dumped_ms_per_gb: f64,
    /// Per GB of databases replicated.
    pub replicated_ms_per_gb: f64,
}

impl Rates {
    /// The priors, before any measurement: the host's rule for dumps, and what the
    /// benchmark of this machine type measured for the rest.
    pub const PRIOR: Rates = Rates {
        fixed_ms: 1_000.0,
        tree_ms_per_gb: 300.0,
        dumped_ms_per_gb: 60_000.0,
        replicated_ms_per_gb: 2_000.0,
    };

    fn as_array(self) -> [f64; 4] {
        [
            self.fixed_ms,
            self.tree_ms_per_gb,
            self.dumped_ms_per_gb,
            self.replicated_ms_per_gb,
        ]
    }

    fn from_array(w: [f64; 4]) -> Rates {
        Rates {
            fixed_ms: w[0],
            tree_ms_per_gb: w[1],
            dumped_ms_per_gb: w[2],
            replicated_ms_per_gb: w[3],
        }
    }

    /// Rates fitted to `samples` (the priors when there are none).
    pub fn fit(samples: &[Sample]) -> Rates {
        let prior = Self::PRIOR.as_array();
        // A rate the data cannot make positive stays at its prior, and the others are
        // fitted again without it.
        let mut pinned = [false; 4];
        loop {
            let w = fit_with(samples, prior, pinned);
            let plausible = |i: usize| w[i].is_finite() && w[i] >= 0.0;
            match (0..4).find(|&i| !pinned[i] && !plausible(i)) {
                Some(i) => pinned[i] = true,
                None => return Self::from_array(w),
            }
        }
    }

    /// The downtime of moving `account`, its databases copied as `method_of` says.
    pub fn estimate(
        &self,
        account: &AccountSpec,
        method_of: impl Fn(&DatabaseSpec) -> DatabaseMethod,
    ) -> u64 {
        let (mut dumped, mut replicated) = (0u64, 0u64);
        for database in &account.databases {
            match method_of(database) {
                DatabaseMethod::DumpRestore => dumped = dumped.saturating_add(database.size_bytes),
                _ => replicated = replicated.saturating_add(database.size_bytes),
            }
        }
        let x = Sample {
            tree_bytes: account.files_bytes.saturating_add(account.mail_bytes),
            dumped_bytes: dumped,
            replicated_bytes: replicated,
            downtime_ms: 0,
        }
        .features();
        let w = self.as_array();
        let ms: f64 = (0..4).map(|i| w[i] * x[i]).sum();
        ms.max(0.0).round() as u64
    }
}

/// Weight of the priors: as much as a tenth of one measured 1 GB cutover.
const PRIOR_WEIGHT: f64 = 0.1;

/// Least squares with the priors as a weak extra measurement; `pinned` rates are
/// held at their prior.
fn fit_with(samples: &[Sample], prior: [f64; 4], pinned: [bool; 4]) -> [f64; 4] {
    let mut a = [[0.0f64; 4]; 4];
    let mut b = [0.0f64; 4];
    for i in 0..4 {
        a[i][i] = PRIOR_WEIGHT;
        b[i] = PRIOR_WEIGHT * prior[i];
    }
    for sample in samples {
        let x = sample.features();
        let pinned_part: f64 = (0..4).filter(|&k| pinned[k]).map(|k| x[k] * prior[k]).sum();
        let y = sample.downtime_ms as f64 - pinned_part;
        for i in 0..4 {
            for j in 0..4 {
                a[i][j] += x[i] * x[j];
            }
            b[i] += x[i] * y;
        }
    }
    for k in (0..4).filter(|&k| pinned[k]) {
        a[k] = [0.0; 4];
        for row in &mut a {
            row[k] = 0.0;
        }
        a[k][k] = 1.0;
        b[k] = prior[k];
    }
    solve(a, b).unwrap_or(prior)
}

/// Solves `a w = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let pivot = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..4 {
            let factor = a[row][col] / pivot_row[col];
            for (cell, above) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *cell -= factor * above;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut w = [0.0; 4];
    for row in (0..4).rev() {
        let rest: f64 = (row + 1..4).map(|k| a[row][k] * w[k]).sum();
        w[row] = (b[row] - rest) / a[row][row];
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_events::DatabaseEngine;

    fn account(tree_gb: f64, dbs: &[(f64, DatabaseEngine)]) -> AccountSpec {
        AccountSpec {
            account_id: "acc-1".into(),
            name: "shop".into(),
            files_bytes: (tree_gb * GB) as u64,
            mail_bytes: 0,
            databases: dbs
                .iter()
                .enumerate()
                .map(|(i, (gb, engine))| DatabaseSpec {
                    engine: *engine,
                    name: format!("db{i}"),
                    size_bytes: (gb * GB) as u64,
                    version: "15".into(),
                })
                .collect(),
            domains: vec![],
            languages: vec![],
        }
    }

    #[test]
    fn without_measurements_the_host_rule_applies_to_dumps() {
        let rates = Rates::fit(&[]);
        assert_eq!(rates, Rates::PRIOR);
        let shop = account(0.0, &[(2.0, DatabaseEngine::Postgres)]);
        let dumped = rates.estimate(&shop, |_| DatabaseMethod::DumpRestore);
        assert_eq!(dumped, 121_000, "one minute per GB, plus the fixed second");
        let replicated = rates.estimate(&shop, |_| DatabaseMethod::LogicalReplication);
        assert_eq!(replicated, 5_000);
    }

    #[test]
    fn measured_cutovers_pull_the_rates_towards_what_this_fleet_does() {
        // The fleet really runs 500 ms + 100 ms/GB of files + 20 s/GB dumped + 1 s/GB
        // replicated.
        let truth = |tree: f64, dumped: f64, replicated: f64| {
            (500.0 + 100.0 * tree + 20_000.0 * dumped + 1_000.0 * replicated) as u64
        };
        let mut samples = Vec::new();
        for i in 0..40 {
            let (tree, dumped, replicated) =
                (f64::from(i % 7), f64::from(i % 3) * 0.5, f64::from(i % 5));
            samples.push(Sample {
                tree_bytes: (tree * GB) as u64,
                dumped_bytes: (dumped * GB) as u64,
                replicated_bytes: (replicated * GB) as u64,
                downtime_ms: truth(tree, dumped, replicated),
            });
        }
        let rates = Rates::fit(&samples);
        assert!(
            (rates.dumped_ms_per_gb - 20_000.0).abs() < 1_500.0,
            "{rates:?}"
        );
        assert!(
            (rates.replicated_ms_per_gb - 1_000.0).abs() < 300.0,
            "{rates:?}"
        );
        let shop = account(
            3.0,
            &[
                (1.0, DatabaseEngine::Postgres),
                (1.0, DatabaseEngine::Mysql),
            ],
        );
        let estimate = rates.estimate(&shop, |d| {
            if d.engine == DatabaseEngine::Postgres {
                DatabaseMethod::LogicalReplication
            } else {
                DatabaseMethod::DumpRestore
            }
        });
        let expected = truth(3.0, 1.0, 1.0);
        assert!(
            estimate.abs_diff(expected) < 2_000,
            "{estimate} vs {expected}"
        );
    }

    #[test]
    fn one_odd_cutover_does_not_make_rates_negative() {
        let odd = Sample {
            tree_bytes: 0,
            dumped_bytes: 0,
            replicated_bytes: (10.0 * GB) as u64,
            downtime_ms: 100,
        };
        let rates = Rates::fit(&[odd]);
        for rate in rates.as_array() {
            assert!(rate >= 0.0, "{rates:?}");
        }
    }
}
