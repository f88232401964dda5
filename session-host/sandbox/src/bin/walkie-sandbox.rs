//! The trampoline as its own program, for the crate's tests and for trying a plan by hand:
//! `walkie-sandbox exec PLAN` and `walkie-sandbox inner INNER` do what `walkie sandbox-exec`
//! and `walkie sandbox-inner` do.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2), args.len()) {
        (Some("exec"), Some(plan), 3) => walkie_sandbox::main_outer(plan),
        (Some("inner"), Some(inner), 3) => walkie_sandbox::main_inner(inner),
        _ => {
            eprintln!("usage: walkie-sandbox exec PLAN | walkie-sandbox inner INNER");
            std::process::exit(2);
        }
    }
}
