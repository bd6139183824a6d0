use std::time::Duration;
fn main() {
    let v = ringloop::run(async {
        let t = ringloop::spawn(async { 1 + 1 });
        ringloop::sleep(Duration::from_millis(20)).await;
        let r = ringloop::timeout(Duration::from_millis(10), ringloop::sleep(Duration::from_secs(5))).await;
        assert!(r.is_err());
        t.await.unwrap()
    });
    println!("{v}");
    let lp = ringloop::EventLoop::new().unwrap();
    println!("{}", lp.backend_description());
    let remote = lp.remote();
    std::thread::spawn(move || { std::thread::sleep(Duration::from_millis(50)); remote.stop(); });
    lp.run_forever();
    println!("{:?}", lp.stats());
}
