// CrossEntropyLoss: identity classification loss with label smoothing, as torchreid
// defines it: targets (1 - ε) one-hot + ε / K, loss = mean over the batch of
// -Σ targets · log_softmax(logits). logits: (N, K), labels: N ints in 0..<K.
// Non-finite logits give a non-finite loss rather than an error: each rank computes it
// on its own slice, so the trainer decides on the value summed over ranks.
import Foundation
import Tensors

public struct CrossEntropyLoss: Sendable {
    public var epsilon: Float

    public init(epsilon: Float = 0.1) {
        require(epsilon >= 0 && epsilon < 1, "CrossEntropyLoss: epsilon must be in [0, 1), got \(epsilon)")
        self.epsilon = epsilon
    }

    /// Returns the loss and writes its gradient with respect to the logits into `gradient`
    /// (N, K): (softmax - targets) / N.
    public func callAsFunction(logits: Tensor, labels: [Int], gradient: Tensor?) -> Double {
        require(logits.shape.count == 2 && logits.shape[0] == labels.count,
                     "CrossEntropyLoss: logits \(logits.shape) for \(labels.count) labels")
        let (n, k) = (logits.shape[0], logits.shape[1])
        if let gradient { require(gradient.shape == logits.shape, "CrossEntropyLoss: gradient \(gradient.shape)") }
        let off = Double(epsilon) / Double(k), on = 1 - Double(epsilon) + off
        var total = 0.0
        for i in 0..<n {
            let label = labels[i]
            require(label >= 0 && label < k, "CrossEntropyLoss: label \(label) outside 0..<\(k)")
            let row = logits.data + i * k
            var maxv = -Double.infinity
            for j in 0..<k { maxv = max(maxv, Double(row[j])) }
            var sum = 0.0
            for j in 0..<k { sum += exp(Double(row[j]) - maxv) }
            let logZ = maxv + log(sum)
            var rowLoss = 0.0
            for j in 0..<k {
                let logp = Double(row[j]) - logZ
                let target = j == label ? on : off
                rowLoss -= target * logp
                if let gradient { gradient[i * k + j] = Float((exp(logp) - target) / Double(n)) }
            }
            total += rowLoss
        }
        return total / Double(n)
    }
}
