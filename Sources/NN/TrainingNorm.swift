// TrainingNorm: the training side of a batch-normalization layer, shared by the
// convolution units and the BNNeck: batch statistics computed per rank (oneDNN, with
// ReLU fused when asked) or summed over all ranks (SyncBN), the running statistics
// updated as PyTorch does, and the matching backward. x, y: (N, H, W, C).
import Tensors

final class TrainingNorm {
    let relu: Bool
    /// When set, batch statistics are summed over every rank (SyncBN).
    weak var reducer: StatisticsReducer?
    private var mean = ActivationSlot(), variance = ActivationSlot()
    private var workspace: AlignedBuffer?
    private var syncStats: (mean: [Double], invstd: [Double], rows: Int)?

    init(relu: Bool) { self.relu = relu }

    /// Normalizes x into y with this batch's statistics and updates the running ones.
    func forward(_ g: BatchNormGeometry, x: Tensor, y: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor,
                 runningVariance: Tensor, batchCount: Tensor, momentum: Float) throws {
        let m = mean.get([g.channels], .x), v = variance.get([g.channels], .x)
        var reduction = g.reduction
        if let reducer {
            let s = try SyncBatchNorm.forward(x: x, gamma: gamma, beta: beta, y: y, epsilon: g.epsilon, relu: relu,
                                              reducer: reducer)
            syncStats = s
            SyncBatchNorm.store(s, epsilon: g.epsilon, mean: m, variance: v)
            reduction = s.rows
        } else {
            syncStats = nil
            if relu, workspace == nil || workspace!.byteCount < BatchNorm.workspaceBytes(g) {
                workspace = BatchNorm.makeWorkspace(g)
            }
            BatchNorm.forwardTraining(g, x: x, gamma: gamma, beta: beta, y: y, mean: m, variance: v,
                                      workspace: relu ? workspace : nil)
        }
        BatchNorm.updateRunningStatistics(runningMean: runningMean, runningVariance: runningVariance, batchMean: m,
                                          batchVariance: v, momentum: momentum, reduction: reduction)
        batchCount[0] += 1
    }

    /// Writes the last forward's y again from its x, bit for bit: the same normalization
    /// with the batch statistics that forward computed (oneDNN's kernel with those
    /// statistics given, or SyncBN's own loop).
    func recompute(_ g: BatchNormGeometry, x: Tensor, y: Tensor, gamma: Tensor, beta: Tensor) {
        if let s = syncStats {
            SyncBatchNorm.normalize(x: x, gamma: gamma, beta: beta, y: y, mean: s.mean, invstd: s.invstd, relu: relu)
        } else {
            guard let m = mean.tensor, let v = variance.tensor else { fatalError("TrainingNorm.recompute before a forward") }
            BatchNorm.forwardInference(g, x: x, gamma: gamma, beta: beta, runningMean: m, runningVariance: v, y: y)
        }
    }

    /// Whether backward reads the forward's y (SyncBN with ReLU takes its mask from y).
    var backwardReadsOutput: Bool { syncStats != nil && relu }

    /// dy (of the ReLU output when fused) -> dx, dGamma, dBeta, from the last forward's
    /// x and y (y is read only when `backwardReadsOutput`, and may be nil otherwise).
    func backward(_ g: BatchNormGeometry, x: Tensor, y: Tensor?, dy: Tensor, gamma: Tensor, beta: Tensor, dx: Tensor,
                  dGamma: Tensor, dBeta: Tensor) throws {
        if let s = syncStats, let reducer {
            try SyncBatchNorm.backward(x: x, y: y, dy: dy, gamma: gamma, mean: s.mean, invstd: s.invstd, rows: s.rows,
                                       relu: relu, dx: dx, dGamma: dGamma, dBeta: dBeta, reducer: reducer)
        } else {
            BatchNorm.backward(g, x: x, dy: dy, gamma: gamma, beta: beta, mean: mean.tensor!, variance: variance.tensor!,
                               workspace: relu ? workspace : nil, dx: dx, dGamma: dGamma, dBeta: dBeta)
        }
    }
}
