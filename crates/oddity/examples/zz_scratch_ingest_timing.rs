//! Scratch timing of CSV ingest; not to be committed.
use std::time::Instant;

use oddity::data::{Input, ReadOptions, open};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: FILE [CHUNK] [RUNS]")?;
    let chunk: usize = args.next().map_or(Ok(65_536), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    for _ in 0..runs {
        let started = Instant::now();
        let mut source = open(&Input::Path(path.clone().into()), &ReadOptions::default())?;
        let mut rows = 0usize;
        let mut sum = 0.0f64;
        while let Some(frame) = source.next_chunk(chunk)? {
            rows += frame.n_rows();
            if let Some(x) = frame.columns[0].as_numbers() {
                sum += x.iter().filter(|v| v.is_finite()).sum::<f64>();
            }
        }
        println!(
            "{:.3} s  rows {rows} sum {sum}",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
