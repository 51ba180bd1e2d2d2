// BatchSource+Pass: batches for work outside the training loop (a pruning criterion's
// scoring) from any batch source: re-ID loaders and classification sources alike.

extension BatchSource {
    /// A supplier of batches that runs epoch after epoch from `epoch` on (pass epochs far
    /// from the training epochs, so the batches differ from training's). The training
    /// loop restarts its own epoch afterwards.
    public func pass(fromEpoch epoch: Int) -> () throws -> Batch {
        var current = epoch, served = 0
        startEpoch(current)
        var count = batches(inEpoch: current)
        return { [unowned self] in
            if served == count {
                current += 1
                served = 0
                self.startEpoch(current)
                count = self.batches(inEpoch: current)
            }
            served += 1
            return try self.next()
        }
    }
}
