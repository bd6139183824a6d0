//! Files on both backends: through the ring on io_uring, on the blocking pool on epoll.
//! Round trips, positions, end of file, open options and their errors (missing file,
//! directory, permission, existing file), metadata, length, sync, rename and removal, a
//! read dropped in flight, and descriptor accounting.

mod support;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use ringloop::Backend;
use ringloop::fs::{self, File, OpenOptions};
use support::{exclusive_fds, fd_count, for_each_backend, guard, shared_fds};

/// A fresh directory for one test on one backend.
fn scratch(test: &str, backend: Backend) -> PathBuf {
    support::socket_dir(&format!("fs-{test}-{backend:?}"))
}

#[test]
fn write_then_read_round_trips_at_positions() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("roundtrip", lp.backend());
        lp.run_until_complete(async {
            let path = dir.join("data");
            fs::write(&path, "hello, ring").await.expect("write");
            assert_eq!(fs::read(&path).await.expect("read"), b"hello, ring");

            let file = File::open(&path).await.expect("open");
            let (n, buf) = file.read_at(Vec::with_capacity(4), 7).await;
            assert_eq!(n.expect("read_at"), 4);
            assert_eq!(buf, b"ring");
            let (n, _) = file.read_at(Vec::with_capacity(8), 100).await;
            assert_eq!(n.expect("past the end"), 0, "end of file");
            let (res, _) = file.read_exact_at(Vec::with_capacity(8), 8).await;
            assert_eq!(res.expect_err("short").kind(), io::ErrorKind::UnexpectedEof);

            // A larger file, written and read back in pieces.
            let big: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
            let out = File::create(dir.join("big")).await.expect("create");
            let (written, _) = out.write_all_at(big.clone(), 0).await;
            written.expect("write 4 MiB");
            out.sync_data().await.expect("sync");
            assert_eq!(
                out.metadata().await.expect("metadata").len(),
                big.len() as u64
            );
            let back = fs::read(dir.join("big")).await.expect("read 4 MiB");
            assert!(back == big, "4 MiB came back changed");
        });
        std::fs::remove_dir_all(&dir).expect("cleanup");
    });
}

#[test]
fn open_errors_carry_the_os_kind() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("errors", lp.backend());
        lp.run_until_complete(async {
            let missing = File::open(dir.join("missing")).await.expect_err("missing");
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);

            let existing = dir.join("existing");
            fs::write(&existing, "x").await.expect("write");
            let again = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&existing)
                .await;
            assert_eq!(
                again.expect_err("exists").kind(),
                io::ErrorKind::AlreadyExists
            );

            // A directory opens for reading; reading it fails as the OS says.
            let as_file = File::open(&dir).await.expect("a directory opens read-only");
            let (read, _) = as_file.read_at(Vec::with_capacity(8), 0).await;
            assert_eq!(
                read.expect_err("a directory").kind(),
                io::ErrorKind::IsADirectory
            );
            let write_dir = OpenOptions::new().write(true).open(&dir).await;
            assert_eq!(
                write_dir.expect_err("dir for writing").kind(),
                io::ErrorKind::IsADirectory
            );

            // Refused even for root: sysfs's notes are read-only.
            let denied = OpenOptions::new()
                .write(true)
                .open("/sys/kernel/notes")
                .await;
            assert_eq!(
                denied.expect_err("read-only").kind(),
                io::ErrorKind::PermissionDenied
            );

            let nonsense = OpenOptions::new().create(true).open(dir.join("x")).await;
            assert_eq!(
                nonsense.expect_err("create without write").kind(),
                io::ErrorKind::InvalidInput
            );
            let (read, _) = File::open(&existing)
                .await
                .expect("open")
                .read_at(Vec::new(), 0)
                .await;
            assert_eq!(
                read.expect_err("no room").kind(),
                io::ErrorKind::InvalidInput
            );
        });
        std::fs::remove_dir_all(&dir).expect("cleanup");
    });
}

#[test]
fn metadata_length_rename_and_removal() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("meta", lp.backend());
        lp.run_until_complete(async {
            fs::create_dir_all(dir.join("a/b/c"))
                .await
                .expect("mkdir -p");
            let path = dir.join("a/b/c/file");
            let file = File::create(&path).await.expect("create");
            file.set_len(10_000).await.expect("set_len");
            file.sync_all().await.expect("fsync");
            let meta = fs::metadata(&path).await.expect("metadata");
            assert!(meta.is_file());
            assert_eq!(meta.len(), 10_000);
            drop(file);
            let moved = dir.join("moved");
            fs::rename(&path, &moved).await.expect("rename");
            assert_eq!(
                fs::metadata(&path).await.expect_err("gone").kind(),
                io::ErrorKind::NotFound
            );
            fs::remove_file(&moved).await.expect("remove");
            assert_eq!(
                fs::remove_file(&moved).await.expect_err("gone").kind(),
                io::ErrorKind::NotFound
            );
        });
        std::fs::remove_dir_all(&dir).expect("cleanup");
    });
}

#[test]
fn metadata_agrees_with_std_field_by_field() {
    use std::os::unix::fs::MetadataExt;
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("statx", lp.backend());
        let file_path = dir.join("file");
        std::fs::write(&file_path, vec![1u8; 12_345]).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file_path, &link).unwrap();
        lp.run_until_complete(async {
            let check = |ours: &fs::Metadata, std: &std::fs::Metadata, what: &str| {
                assert_eq!(ours.len(), std.len(), "{what}: len");
                assert_eq!(ours.is_file(), std.is_file(), "{what}: is_file");
                assert_eq!(ours.is_dir(), std.is_dir(), "{what}: is_dir");
                assert_eq!(ours.is_symlink(), std.is_symlink(), "{what}: is_symlink");
                assert_eq!(ours.mode(), std.mode(), "{what}: mode");
                assert_eq!(ours.permissions(), std.permissions(), "{what}: permissions");
                assert_eq!(ours.ino(), std.ino(), "{what}: ino");
                assert_eq!(ours.dev(), std.dev(), "{what}: dev");
                assert_eq!(ours.nlink(), std.nlink(), "{what}: nlink");
                assert_eq!(ours.uid(), std.uid(), "{what}: uid");
                assert_eq!(ours.gid(), std.gid(), "{what}: gid");
                assert_eq!(ours.blksize(), std.blksize(), "{what}: blksize");
                assert_eq!(ours.blocks(), std.blocks(), "{what}: blocks");
                assert_eq!(
                    ours.modified().unwrap(),
                    std.modified().unwrap(),
                    "{what}: mtime"
                );
                assert_eq!(
                    ours.accessed().unwrap(),
                    std.accessed().unwrap(),
                    "{what}: atime"
                );
                assert_eq!(ours.created().ok(), std.created().ok(), "{what}: btime");
            };
            let ours = fs::metadata(&file_path).await.expect("metadata");
            check(&ours, &std::fs::metadata(&file_path).unwrap(), "file");
            let ours = fs::metadata(&dir).await.expect("dir");
            check(&ours, &std::fs::metadata(&dir).unwrap(), "dir");
            let ours = fs::metadata(&link).await.expect("followed link");
            check(&ours, &std::fs::metadata(&link).unwrap(), "followed link");
            let ours = fs::symlink_metadata(&link).await.expect("link");
            check(
                &ours,
                &std::fs::symlink_metadata(&link).unwrap(),
                "link itself",
            );
            assert!(ours.is_symlink());
            let open = File::open(&file_path).await.expect("open");
            let ours = open.metadata().await.expect("File::metadata");
            check(&ours, &std::fs::metadata(&file_path).unwrap(), "open file");

            let missing = fs::metadata(dir.join("missing")).await.unwrap_err();
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);
            let not_dir = fs::metadata(file_path.join("below")).await.unwrap_err();
            assert_eq!(not_dir.kind(), io::ErrorKind::NotADirectory);
            let nul = fs::metadata("bad\0path").await.unwrap_err();
            assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
        });
        std::fs::remove_dir_all(&dir).expect("cleanup");
    });
}

/// Open, read and statx take the ring on io_uring and the pool on epoll. A buffered
/// write to a regular file is tried on the loop thread without blocking
/// (`RWF_NOWAIT`), and where the file system cannot (ext4, tmpfs) runs on the blocking
/// pool on both backends, faster than io_uring's own worker threads: so at most one job.
#[test]
fn file_io_takes_the_ring_on_io_uring_and_the_pool_on_epoll() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("route", lp.backend());
        let before = lp.stats().blocking_jobs;
        let file = lp.run_until_complete(async {
            let file = File::create(dir.join("f")).await.expect("create");
            let (r, _) = file.read_at(Vec::with_capacity(4096), 0).await;
            assert_eq!(r.expect("read"), 0);
            assert_eq!(file.metadata().await.expect("metadata").len(), 0);
            file
        });
        let jobs = lp.stats().blocking_jobs - before;
        match lp.backend() {
            Backend::IoUring => {
                assert_eq!(jobs, 0, "open, read and statx went through the ring")
            }
            _ => assert!(
                jobs >= 3,
                "open, read and statx ran on the blocking pool ({jobs})"
            ),
        }
        let before = lp.stats().blocking_jobs;
        lp.run_until_complete(async {
            let (w, _) = file.write_all_at(vec![1u8; 4096], 0).await;
            w.expect("write");
            let (r, buf) = file.read_at(Vec::with_capacity(8192), 0).await;
            assert_eq!(r.expect("read back"), 4096);
            assert!(buf.iter().all(|&b| b == 1));
        });
        let jobs = lp.stats().blocking_jobs - before;
        let most = if lp.backend() == Backend::IoUring {
            1
        } else {
            2
        };
        assert!(jobs <= most, "the write: inline or one pool job ({jobs})");
        drop(file);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    });
}

#[test]
fn reads_dropped_in_flight_hold_their_buffers_until_done_and_leak_nothing() {
    let _fds = exclusive_fds();
    let before = fd_count();
    for_each_backend(|lp| {
        let dir = scratch("dropped", lp.backend());
        lp.run_until_complete(async {
            let path = dir.join("f");
            fs::write(&path, vec![9u8; 1 << 20]).await.expect("write");
            let file = File::open(&path).await.expect("open");
            for round in 0..50u64 {
                let mut read = Box::pin(file.read_at(Vec::with_capacity(64 * 1024), round * 4096));
                let _ = support::poll_once(&mut read).await;
                drop(read);
            }
            let (n, buf) = guard(
                "a read after the drops",
                file.read_at(Vec::with_capacity(16), 0),
            )
            .await;
            assert_eq!(n.expect("read"), 16);
            assert!(buf.iter().all(|&b| b == 9));
        });
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(20)));
        let stats = lp.stats();
        assert_eq!(stats.buffers_held, 0, "{:?}", lp.backend());
        assert_eq!(stats.ops_in_flight, 0, "{:?}", lp.backend());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    });
    // Blocking jobs may still be ending on their threads: give them a moment.
    let deadline = std::time::Instant::now() + support::HANG;
    while fd_count() != before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fd_count(), before, "descriptors leaked");
}
