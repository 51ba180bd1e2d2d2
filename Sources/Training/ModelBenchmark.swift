// ModelBenchmark: images/s of a full training step (forward, ID and triplet losses,
// backward, optimizer step) or of inference, on random data, with the process's peak
// resident memory, for `reidprune bench train|infer`.
import Foundation
import NN
import Optim
import ReIDData
import Tensors

public struct ModelBenchmarkResult: Codable, Sendable {
    public var mode: String
    public var arch: String
    public var height: Int
    public var width: Int
    public var batch: Int
    public var threads: Int
    public var steps: Int
    public var images_per_s: Double
    public var ms_per_step: Double
    public var peak_rss_mb: Double
}

public enum ModelBenchmark {
    /// Runs `warmup` untimed and `steps` timed steps; reports the median step time.
    public static func run(training: Bool, architecture: ResNetArchitecture, archName: String, height: Int, width: Int,
                           batch: Int, threads: Int, steps: Int, warmup: Int = 2) throws -> ModelBenchmarkResult {
        DNNL.setThreads(threads)
        let classes = max(2, batch / 4)
        let net = try ReIDNet(architecture: architecture, head: HeadConfig(bnneck: true, numClasses: training ? 751 : 0))
        var state: UInt32 = 7
        let images = Tensor(shape: [batch, height, width, 3], layout: .nhwc)
        for i in 0..<images.count {
            state = state &* 1_664_525 &+ 1_013_904_223
            images[i] = Float(state >> 8) / Float(1 << 24) * 4 - 2
        }
        let pids = (0..<batch).map { $0 * classes / batch }
        let sample = Batch(images: images, pids: pids, camids: pids.map { $0 % 6 })
        var body: () -> Void
        if training {
            var config = TrainerConfig()
            config.optimizer = .adam
            config.schedule = LRSchedule(base: 3.5e-4)
            config.progress = false
            let trainer = try Trainer(net: net, source: FixedBatchSource(batches: [sample], numClasses: 751),
                                      config: config, runDirectory: nil)
            body = { trainer.step(sample) }
        } else {
            body = { _ = net.forward(images, mode: .inference) }
        }
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        let median = times[times.count / 2]
        return ModelBenchmarkResult(mode: training ? "train" : "infer", arch: archName, height: height, width: width,
                                    batch: batch, threads: threads, steps: steps,
                                    images_per_s: Double(batch) / median, ms_per_step: median * 1e3,
                                    peak_rss_mb: peakResidentMegabytes())
    }

    /// VmHWM from /proc/self/status (Linux), in MB.
    public static func peakResidentMegabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}
