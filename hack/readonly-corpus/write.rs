// write fails to write a file the ways Rust programs report it: unwrap (a panic) and an error
// returned from main. std::io::Error does not carry the path.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "unwrap" {
        std::fs::write(&args[2], "x").unwrap();
    }
    std::fs::write(&args[2], "x")?;
    Ok(())
}
