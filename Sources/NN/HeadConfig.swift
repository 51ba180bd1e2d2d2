// HeadConfig: which head sits on the backbone and its sizes: the re-identification head
// (pooling, optional embedding and BNNeck, bias-free identity classifier) or the
// classification head of torchvision's ResNets (pooling, `fc` with bias). Saved in model
// metadata; files written before the task existed read as re-ID heads.

/// What a network is trained for.
public enum HeadTask: String, Codable, CaseIterable, Sendable {
    /// Person re-identification: features for retrieval, an identity classifier in training.
    case reid
    /// Image classification (pretraining): logits over the data set's classes.
    case classification
}

public struct HeadConfig: Codable, Hashable, Sendable {
    public var task: HeadTask
    /// BN without shift between the features and the classifier (Luo et al. 2019); re-ID only.
    public var bnneck: Bool
    /// Size of a linear embedding after pooling; 0 keeps the backbone's width; re-ID only.
    public var embeddingDim: Int
    /// Identities of the training set (re-ID; 0 builds no classifier, inference only), or
    /// the classes of `fc` (classification).
    public var numClasses: Int

    public init(bnneck: Bool = true, embeddingDim: Int = 0, numClasses: Int = 0) {
        task = .reid
        self.bnneck = bnneck
        self.embeddingDim = embeddingDim
        self.numClasses = numClasses
    }

    /// torchvision's classification head: `fc` over `numClasses` classes.
    public static func classification(numClasses: Int) -> HeadConfig {
        var h = HeadConfig(bnneck: false, embeddingDim: 0, numClasses: numClasses)
        h.task = .classification
        return h
    }

    /// The most classes a head may have (ten times the largest face-identity sets).
    public static let maxClasses = 10_000_000

    /// Throws unless the sizes are ones a network can have: an embedding of 0 to
    /// `ResNetArchitecture.maxWidth`, 0 to `maxClasses` classes.
    public func validate() throws {
        guard (0...ResNetArchitecture.maxWidth).contains(embeddingDim) else {
            throw ArchitectureError("head embeddingDim \(embeddingDim) (0 to \(ResNetArchitecture.maxWidth))")
        }
        guard (0...Self.maxClasses).contains(numClasses) else {
            throw ArchitectureError("head numClasses \(numClasses) (0 to \(Self.maxClasses))")
        }
    }

    enum CodingKeys: String, CodingKey { case task, bnneck, embeddingDim, numClasses }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decodeIfPresent(HeadTask.self, forKey: .task) ?? .reid
        bnneck = try c.decode(Bool.self, forKey: .bnneck)
        embeddingDim = try c.decode(Int.self, forKey: .embeddingDim)
        numClasses = try c.decode(Int.self, forKey: .numClasses)
    }
}
