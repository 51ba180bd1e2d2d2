// NetworkHead: what ReIDNet needs of the head on its backbone (the re-ID head or the
// classification head): map: (N, H, W, C) -> features (N, D), embeddings (N, D) and
// logits (N, classes), and the way back to the gradient of the feature map.
import Tensors

public protocol NetworkHead: AnyObject {
    /// D, the width of the features and embeddings.
    var outputDim: Int { get }
    /// The arithmetic of the head's linear layers (embedding, classifier, `fc`).
    var precision: Precision { get set }
    /// When set, the head's batch statistics (if it has any) are summed over every rank.
    var statisticsReducer: StatisticsReducer? { get set }
    /// Initializes the head's parameters and buffers from `rng`.
    func initialize(_ rng: inout SeededRandom)
    /// map: (N, H, W, C) -> features, embeddings and logits (the re-ID head gives logits
    /// in training only, the classification head always).
    func forward(_ map: Tensor, mode: Mode) throws -> ReIDOutput
    /// Gradients of the losses with respect to features, embeddings and logits (any may be
    /// nil; the given tensors are overwritten) -> gradient of the feature map (N, H, W, C),
    /// from `pool`.
    func backward(dFeatures: Tensor?, dEmbeddings: Tensor?, dLogits: Tensor?, pool: TensorPool) throws -> Tensor
    /// Multiply-accumulates per image.
    func macs(includeClassifier: Bool) -> Int
}
