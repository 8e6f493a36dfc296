//! Prints the simulated `up` and `down` times of the real step graph (AWS's
//! typical durations on a paused clock) as JSON, for scripts/bench-engine.sh,
//! beside what `plan`'s estimate predicts for the same runs.

#[path = "../tests/common/sim.rs"]
mod sim;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (up, waits, down) = sim::stack_graphs();
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let steps = sim::stack_steps();
    let none = provision::estimate::Learned::default();
    let work = |_: &str| provision::estimate::Work::Create;
    let est_up = |p| provision::estimate::up(&steps, work, &none, p).seconds;
    let est_down = |p| provision::estimate::down(&steps, |_| true, &none, p).seconds;
    let report = rt.block_on(async {
        let up8 = sim::simulate(&up, &waits, 8).await;
        let up1 = sim::simulate(&up, &waits, 1).await;
        let down8 = sim::simulate(&down, &[], 8).await;
        let down1 = sim::simulate(&down, &[], 1).await;
        serde_json::json!({
            "steps": up.len(),
            "up": {"critical_path_s": secs(up8.critical_path), "parallelism_8_s": secs(up8.makespan), "parallelism_1_s": secs(up1.makespan),
                   "estimate_8_s": est_up(8), "estimate_1_s": est_up(1)},
            "down": {"critical_path_s": secs(down8.critical_path), "parallelism_8_s": secs(down8.makespan), "parallelism_1_s": secs(down1.makespan),
                     "estimate_8_s": est_down(8), "estimate_1_s": est_down(1)},
        })
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
