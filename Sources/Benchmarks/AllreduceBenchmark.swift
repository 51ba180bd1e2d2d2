// AllreduceBenchmark: allreduce latency and bus bandwidth from 4 B to a largest message,
// and the gradient sync time of ResNet-50 and ResNet-18 (blocking, 25 MB buckets), for
// `reidprune bench allreduce` under mpirun. Lines are printed on the root.
import Distributed
import Foundation
import NN
import Tensors
import Training

public enum AllreduceBenchmark {
    /// - Important: Collective — every rank calls this, in the same order.
    public static func run(comm: Communicator, repeats: Int, maxMb: Int, json: Bool, say: (String) -> Void) throws {
        func median(_ body: () throws -> Void) throws -> Double {
            try comm.barrier()
            try body()
            var t: [Double] = []
            for _ in 0..<repeats {
                try comm.barrier()
                let s = DispatchTime.now().uptimeNanoseconds
                try body()
                t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
            }
            // The slowest rank decides.
            var mx = t.sorted()[t.count / 2]
            try withUnsafeMutablePointer(to: &mx) { try comm.allreduce($0, count: 1, op: .max) }
            return mx
        }
        say("allreduce (sum, in place) on \(comm.size) ranks" + (comm.watch.active ? ", under the collective watchdog" : "")
            + "; bus bandwidth = 2 (n - 1) / n x bytes / time")
        var bytes = 4
        let buffer = AlignedBuffer(byteCount: maxMb << 20)
        let p = buffer.pointer.bindMemory(to: Float.self, capacity: (maxMb << 20) / 4)
        while bytes <= maxMb << 20 {
            let t = try median { try comm.allreduce(p, count: bytes / 4, op: .sum) }
            let bus = Double(bytes) / t * 2 * Double(comm.size - 1) / Double(max(comm.size, 1)) / 1e9
            if json {
                say("{\"bench\":\"allreduce\",\"bytes\":\(bytes),\"seconds\":\(t),\"bus_gb_per_s\":\(bus),\"ranks\":\(comm.size),\"watched\":\(comm.watch.active)}")
            } else {
                say(String(format: "%12d B  %10.1f us  %8.3f GB/s", bytes, t * 1e6, bus))
            }
            bytes *= 4
        }
        for depth in [ResNetArchitecture.Depth.resnet50, .resnet18] {
            let net = try ReIDNet(architecture: .resnet(depth), head: HeadConfig(bnneck: true, numClasses: 751))
            let sync = GradientSync(store: net.store, comm: comm, mode: .blocking)
            let t = try median { try sync.finishBackward() }
            let mb = Double(net.store.parameterCapacity * 4) / 1e6
            if json {
                say("{\"bench\":\"gradient_sync\",\"arch\":\"\(depth.name)\",\"mb\":\(mb),\"buckets\":\(sync.buckets.count),\"seconds\":\(t),\"ranks\":\(comm.size),\"watched\":\(comm.watch.active)}")
            } else {
                say(String(format: "gradient sync %@ (751-way head): %.1f MB in %d buckets, %.1f ms", depth.name, mb,
                           sync.buckets.count, t * 1e3))
            }
        }
    }
}
