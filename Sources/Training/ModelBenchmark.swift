// ModelBenchmark: images/s of a full training step (forward, ID and triplet losses, or
// for classification the 1000-class `fc` head and cross-entropy with SGD, backward,
// gradient allreduce across ranks, optimizer step) or of inference, on random
// data, with the share of the step spent in gradient sync, the process's peak resident
// memory and, in training, each phase's time and the convolutions' time per pass, for
// `reidprune bench train|infer` (under mpirun too).
import Distributed
import Foundation
import NN
import Optim
import Pruning
import ReIDData
import Tensors

public struct ModelBenchmarkResult: Codable, Sendable {
    public var mode: String
    public var arch: String
    public var height: Int
    public var width: Int
    /// The global batch (over all ranks).
    public var batch: Int
    public var threads: Int
    public var ranks: Int
    public var sync: String
    public var steps: Int
    public var images_per_s: Double
    public var ms_per_step: Double
    /// Median share of a training step spent in gradient communication.
    public var sync_share: Double
    public var peak_rss_mb: Double
    /// "reid" or "classification".
    public var task = "reid"
    /// The arithmetic of convolutions and linear layers: "fp32" or "bf16".
    public var precision = "fp32"
    /// What the gradient allreduce sends: "fp32" or "bf16".
    public var gradient_precision = "fp32"
    /// Resident memory after each phase: the model built, then in training the trainer
    /// set up and each phase of the first step (the optimizer's moments appear with the
    /// first update).
    public var memory: [PhaseMemory] = []
    /// The stride of the last stage's first block (2 in torchvision's ResNets, 1 in re-ID's
    /// common variant), so that a figure says which structure it measured.
    public var last_stride: Int?
    /// Training: median milliseconds of each phase of the timed steps (rank 0's);
    /// `other` is the step minus the four phases. Absent for inference.
    public var phases_ms: StepPhaseTimes?
    /// Training: median milliseconds per timed step of whole convolution calls per pass
    /// (the primitive and the weight and activation reorders around it; the stem's
    /// convolution recomputed in backward counts as forward). Absent for inference.
    public var conv_ms: ConvolutionPasses<Double>?
    /// Training: the same inside the oneDNN convolution primitives alone.
    public var conv_primitive_ms: ConvolutionPasses<Double>?
    /// Training: the same for the weight reorders alone (OIHW into the primitive's format
    /// for forward and backward-data, the weight gradient back to OIHW for backward-weights);
    /// `conv_ms` minus both is the activation reorders (Winograd's blocked layout, bf16
    /// conversions) and binding the arguments.
    public var conv_weight_reorder_ms: ConvolutionPasses<Double>?
    /// Training: convolution calls per timed step per pass.
    public var conv_calls: ConvolutionPasses<Int>?
    /// Training: `conv_ms`'s total over the median step time (`ms_per_step`).
    public var conv_share: Double?
}

/// The process's resident memory when a phase ended: the high-water mark so far
/// (VmHWM) and what was resident at that moment (VmRSS), in MB, and how much of it the
/// network's tensor pool (saved activations, gradients, temporaries) holds.
public struct PhaseMemory: Codable, Sendable, Equatable {
    public var phase: String
    public var peak_rss_mb: Double
    public var rss_mb: Double
    public var pool_mb: Double

    /// Reads the figures now.
    public static func now(_ phase: String, _ net: ReIDNet) -> PhaseMemory {
        PhaseMemory(phase: phase, peak_rss_mb: ModelBenchmark.peakResidentMegabytes(),
                    rss_mb: ModelBenchmark.residentMegabytes(), pool_mb: Double(net.pool.bytes) / 1_048_576)
    }
}

public enum ModelBenchmark {
    /// Runs `warmup` untimed and `steps` timed steps; reports the median step time.
    /// - Important: Collective — every rank calls this, in the same order.
    public static func run(training: Bool, architecture: ResNetArchitecture, archName: String, height: Int, width: Int,
                           batch: Int, threads: Int, steps: Int, warmup: Int = 2, comm: Communicator = LocalCommunicator(),
                           sync: SyncMode = .blocking, task: HeadTask = .reid,
                           precision: Precision = .fp32, gradientPrecision: Precision = .fp32) throws -> ModelBenchmarkResult {
        try precision.requireSupported(key: "--precision")
        // The caller's thread count comes back afterwards (a scenario report evaluates after measuring).
        let callerThreads = DNNL.threads
        defer { DNNL.setThreads(callerThreads) }
        DNNL.setThreads(threads)
        let perRank = batch / comm.size
        let classification = task == .classification
        // Re-ID: P x K identities of Market's 751; classification: ImageNet's 1000 classes.
        let classes = classification ? 1000 : max(2, batch / 4), headClasses = classification ? 1000 : 751
        let head = classification ? HeadConfig.classification(numClasses: headClasses)
            : HeadConfig(bnneck: true, numClasses: training ? headClasses : 0)
        let net = try ReIDNet(architecture: architecture, head: head)
        net.precision = precision
        var memory = [PhaseMemory.now("model", net)]
        var rng = SeededRandom(seed: 7, keys: comm.rank)
        let images = Tensor(shape: [perRank, height, width, 3], layout: .nhwc)
        for i in 0..<images.count { images[i] = Float(rng.uniform(-2, 2)) }
        let pids = (0..<perRank).map { classification ? rng.int(classes) : (comm.rank * perRank + $0) * classes / batch }
        let sample = Batch(images: images, pids: pids, camids: pids.map { $0 % 6 })
        var body: () throws -> Double
        var breakdown: StepBreakdown?
        if training {
            var config = classification ? TrainerConfig.classification : TrainerConfig()
            if !classification {
                config.optimizer = .adam
                config.schedule = LRSchedule(base: 3.5e-4)
            }
            config.progress = false
            config.distributed.syncMode = sync
            config.distributed.gradientPrecision = gradientPrecision
            config.distributed.checksumEvery = 0
            config.precision = precision
            let trainer = try Trainer(net: net, source: FixedBatchSource(batches: [sample], numClasses: headClasses),
                                      config: config, runDirectory: nil, comm: comm)
            memory.append(.now("trainer", net))
            // Memory after each phase of the first step only; phase times on every step.
            let phases = StepBreakdown()
            var firstStep = true
            trainer.onPhase = { phase in
                phases.mark(phase)
                guard firstStep else { return }
                memory.append(.now("first \(phase.rawValue)", net))
                if phase == .update { firstStep = false }
            }
            breakdown = phases
            body = {
                try trainer.step(sample)
                return trainer.sync.lastSeconds
            }
        } else {
            body = {
                _ = try net.forward(images, mode: .inference)
                return 0
            }
        }
        for _ in 0..<warmup { _ = try body() }
        var times: [Double] = [], shares: [Double] = []
        breakdown?.start()
        defer { breakdown?.stop() }
        for _ in 0..<steps {
            try comm.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            let syncSeconds = try body()
            let end = DispatchTime.now().uptimeNanoseconds
            let t = Double(end - start) / 1e9
            breakdown?.record(start: start, end: end)
            times.append(t)
            shares.append(syncSeconds / t)
        }
        times.sort()
        shares.sort()
        let median = times[times.count / 2]
        var result = ModelBenchmarkResult(mode: training ? "train" : "infer", arch: archName, height: height, width: width,
                                    batch: perRank * comm.size, threads: threads, ranks: comm.size, sync: sync.rawValue,
                                    steps: steps, images_per_s: Double(perRank * comm.size) / median,
                                    ms_per_step: median * 1e3, sync_share: shares[shares.count / 2],
                                    peak_rss_mb: peakResidentMegabytes(), task: task.rawValue,
                                    precision: precision.rawValue, memory: memory)
        result.last_stride = architecture.stages.last?.blocks.first?.stride
        result.gradient_precision = gradientPrecision.rawValue
        if let breakdown {
            let conv = breakdown.convolutionMilliseconds
            result.phases_ms = breakdown.phaseTimes
            result.conv_ms = conv
            result.conv_primitive_ms = breakdown.primitiveMilliseconds
            result.conv_weight_reorder_ms = breakdown.weightReorderMilliseconds
            result.conv_calls = breakdown.calls
            result.conv_share = conv.total / (median * 1e3)
        }
        return result
    }

    /// The architecture L1 global ranking of inner groups leaves at `fraction` of the FLOPs
    /// (of a freshly initialized network: what matters here is the widths' speed).
    public static func prunedArchitecture(_ arch: ResNetArchitecture, fraction: Double, height: Int, width: Int,
                                          roundTo: Int, scope: PruneScope = .inner) throws -> ResNetArchitecture {
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true))
        let map = GroupMap.build(arch, head: net.headConfig)
        var o = RankingOptions()
        o.targetFLOPs = fraction
        o.height = height
        o.width = width
        o.roundTo = roundTo
        o.scope = scope
        return try Ranking.plan(scores: WeightCriterion.scores(.l1, net: net, map: map), net: net, map: map, options: o,
                                criterion: "l1").after
    }

    /// VmHWM from /proc/self/status (Linux), in MB.
    public static func peakResidentMegabytes() -> Double { statusMegabytes("VmHWM:") }

    /// VmRSS from /proc/self/status (Linux), in MB.
    public static func residentMegabytes() -> Double { statusMegabytes("VmRSS:") }

    private static func statusMegabytes(_ key: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}
