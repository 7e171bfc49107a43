//! Writes the golden fixture of every catalogue type that has none yet, from its sample
//! in `tests/support/mod.rs`. Never overwrites: an existing fixture is the record of what
//! was once written. Run after adding an event type:
//! `cargo run -p ferry-events --example write_fixtures`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("current");
    fs::create_dir_all(&dir)?;
    let mut written = 0;
    for sample in support::sample_envelopes() {
        let path = dir.join(format!("{}.json", sample.event_type()));
        if path.exists() {
            continue;
        }
        let mut bytes = ferry_events::encode_pretty(&sample)?;
        bytes.push(b'\n');
        fs::write(&path, bytes)?;
        println!("wrote {}", path.display());
        written += 1;
    }
    println!("{written} fixture(s) written");
    Ok(())
}
