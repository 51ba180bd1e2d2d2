// Parallel: splitting plain loops over the same number of threads oneDNN uses, for the
// memory-bound work outside oneDNN (pooling loops, optimizer updates).
import Dispatch

/// Runs `body(i)` for i in 0..<count, split in contiguous chunks over oneDNN's thread count.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    let workers = min(max(DNNL.threads, 1), count)
    if workers <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: workers) { wkr in
            let start = count * wkr / workers, end = count * (wkr + 1) / workers
            for i in start..<end { work(i) }
        }
    }
}

/// Runs `body(range)` on disjoint ranges covering 0..<count, one per thread, each a
/// multiple of `grain` long (except the last), so that loops inside vectorize.
public func parallelRanges(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
    let chunks = (count + grain - 1) / grain
    let workers = min(max(DNNL.threads, 1), chunks)
    if workers <= 1 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = min(count, chunks * w / workers * grain), end = min(count, chunks * (w + 1) / workers * grain)
            if start < end { work(start..<end) }
        }
    }
}
