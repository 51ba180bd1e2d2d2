// The bfloat16 allreduce: the element sum against a double-precision reference rounded to
// bf16 (ties to even, subnormals to zero, NaN and infinity kept), ranks combined in rank
// order with every partial sum rounded, every rank ending with the same bits; and the
// gradient sync in bf16: each bucket's float32 gradients rounded, summed over the ranks
// and expanded back, in blocking and overlapped mode alike.
import Distributed
import Foundation
import NN
import Tensors
import Training
import XCTest

final class BFloat16AllreduceTests: XCTestCase {
    /// The bf16 bit pattern of a value that bf16 holds exactly.
    static func bits(_ f: Float) -> UInt16 {
        let b = f.bitPattern
        precondition(b & 0xffff == 0, "\(f) is not a bfloat16 value")
        return UInt16(b >> 16)
    }

    func testElementSumRoundsToNearestEvenInFloat32() {
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to even keep 1.
        XCTAssertEqual(BFloat16Sum.add(Self.bits(1), Self.bits(0x1p-8)), Self.bits(1))
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        XCTAssertEqual(BFloat16Sum.add(Self.bits(1 + 0x1p-7), Self.bits(0x1p-8)), Self.bits(1 + 0x1p-6))
        XCTAssertEqual(BFloat16Sum.add(Self.bits(-2.5), Self.bits(2.5)), 0)
        XCTAssertEqual(BFloat16Sum.add(Self.bits(.infinity), Self.bits(1)), Self.bits(.infinity))
        XCTAssertTrue(BFloat16Sum.value(BFloat16Sum.add(Self.bits(.infinity), Self.bits(-.infinity))).isNaN)
        XCTAssertTrue(BFloat16Sum.value(BFloat16Sum.add(0x7fc1, Self.bits(1))).isNaN)
        // A sum below float32's normal range becomes zero, as the conversion instruction makes it.
        let tiny = Self.bits(Float.leastNormalMagnitude * 1.5), minus = Self.bits(-Float.leastNormalMagnitude)
        XCTAssertEqual(BFloat16Sum.add(tiny, minus) & 0x7fff, 0)

        // Random finite values: the exact (double) sum rounded to float32, as the hardware
        // adds, then to the nearest bf16 by this test's own rounding.
        var g = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let a = Self.bits(Self.bf16(Float.random(in: -100...100, using: &g)))
            let b = Self.bits(Self.bf16(Float.random(in: -1...1, using: &g)))
            let exact = Double(BFloat16Sum.value(a)) + Double(BFloat16Sum.value(b))
            XCTAssertEqual(BFloat16Sum.value(BFloat16Sum.add(a, b)), Self.bf16(Float(exact)), "\(a) + \(b)")
        }
    }

    /// The bf16 value nearest a finite f (ties to even): of the two bf16 neighbours, the
    /// nearer by double-precision distance.
    static func bf16(_ f: Float) -> Float {
        let down = Float(bitPattern: f.bitPattern & 0xffff_0000)  // toward zero
        let up = Float(bitPattern: (f.bitPattern & 0xffff_0000) &+ 0x1_0000)  // away from zero
        let dd = abs(Double(f) - Double(down)), du = abs(Double(up) - Double(f))
        if dd != du { return dd < du ? down : up }
        return (down.bitPattern >> 16) & 1 == 0 ? down : up
    }

    /// The buffer sum (16 lanes at a time) equals the element sum on every pair: random bit
    /// patterns of every kind (NaN, infinities, subnormals, zeros of both signs, ties), and
    /// lengths that leave a remainder.
    func testBufferSumEqualsTheElementSumBitForBit() {
        var g = SystemRandomNumberGenerator()
        let special: [UInt16] = [0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x7f81, 0x0001, 0x8070, 0x0080, 0x3f80, 0xbf80,
                                 0x7f7f, 0xff7f, 0x3b80]
        for count in [0, 1, 15, 16, 17, 1000, 4099] {
            let values = (0..<count).map { _ in Bool.random(using: &g) ? special.randomElement(using: &g)! : UInt16.random(in: 0...0xffff, using: &g) }
            let start = (0..<count).map { _ in Bool.random(using: &g) ? special.randomElement(using: &g)! : UInt16.random(in: 0...0xffff, using: &g) }
            var sums = start
            values.withUnsafeBufferPointer { v in
                sums.withUnsafeMutableBufferPointer { BFloat16Sum.add(v.baseAddress!, into: $0.baseAddress!, count: count) }
            }
            XCTAssertEqual(sums, zip(values, start).map { BFloat16Sum.add($0, $1) }, "\(count) values")
        }
    }

    func testRanksSumInRankOrderAndAgreeBitForBit() throws {
        let world = ThreadWorld(size: 3)
        let lock = NSLock()
        // Rounded after each addition, in rank order: 1 + 2^-8 -> 1 (a tie, to even), then
        // 1 + 2^-8 -> 1 again (the exact sum 1 + 2^-7 is a bf16 value); 100 + 0.375 -> 100.5
        // (bf16's step there is 0.5), then + 1 -> 101.5 (the exact sum, 101.375, would round to 101.5 too).
        let values: [[Float]] = [[1, 3, -0.5, 100], [0x1p-8, 0.25, 0.5, 0.375], [0x1p-8, -3.25, 0, 1]]
        nonisolated(unsafe) var results: [Int: [UInt16]] = [:]
        try world.run { rank, comm in
            var buffer = values[rank].map(Self.bits)
            try buffer.withUnsafeMutableBufferPointer { try comm.allreduceBF16($0.baseAddress!, count: $0.count) }
            var started = values[rank].map(Self.bits)
            try started.withUnsafeMutableBufferPointer {
                try comm.startAllreduceBF16($0.baseAddress!, count: $0.count).wait()
            }
            XCTAssertEqual(started, buffer, "rank \(rank): started and blocking sums differ")
            lock.lock(); results[rank] = buffer; lock.unlock()
        }
        let expected = (0..<4).map { i in values.dropFirst().reduce(Self.bits(values[0][i])) { BFloat16Sum.add(Self.bits($1[i]), $0) } }
        XCTAssertEqual(expected.map(BFloat16Sum.value), [1, 0, 0, 101.5])
        for r in 0..<3 { XCTAssertEqual(results[r], expected, "rank \(r)") }
        // One rank: nothing is sent, nothing changes.
        var alone = values[0].map(Self.bits)
        try alone.withUnsafeMutableBufferPointer { try LocalCommunicator().allreduceBF16($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(alone, values[0].map(Self.bits))
    }

    /// A store of three parameters whose gradients are the rank's own values.
    static func store(rank: Int) -> ParameterStore {
        let s = ParameterStore()
        for (i, n) in [37, 5, 200].enumerated() { _ = s.register("p\(i)", shape: [n], layout: .x, role: .convWeight) }
        s.allocate()
        for i in 0..<s.parameterCapacity { s.gradients[i] = gradient(rank: rank, index: i) }
        return s
    }

    static func gradient(rank: Int, index: Int) -> Float {
        Float(sin(Double(index * 7 + rank * 13)) * pow(10, Double(index % 5 - 2)))
    }

    func testGradientSyncInBFloat16SumsTheRoundedGradients() throws {
        for mode in [SyncMode.blocking, .overlapped] {
            let world = ThreadWorld(size: 3)
            let lock = NSLock()
            nonisolated(unsafe) var results: [Int: [Float]] = [:]
            nonisolated(unsafe) var bucketCount = 0
            try world.run { rank, comm in
                let s = Self.store(rank: rank)
                // 64-float buckets: several buckets, one parameter split over none (whole slots).
                let sync = GradientSync(store: s, comm: comm, mode: mode, bucketBytes: 256, precision: .bf16)
                sync.beginBackward()
                for slot in s.parameterSlots.indices.reversed() { s.gradientReady(slot) }
                try sync.finishBackward()
                lock.lock()
                results[rank] = Array(UnsafeBufferPointer(start: s.gradients, count: s.parameterCapacity))
                bucketCount = sync.buckets.count
                lock.unlock()
            }
            XCTAssertGreaterThan(bucketCount, 1, "\(mode)")
            let n = results[0]!.count
            let expected = (0..<n).map { i in
                BFloat16Sum.value((1..<3).reduce(Self.bits(Self.bf16(Self.gradient(rank: 0, index: i)))) {
                    BFloat16Sum.add(Self.bits(Self.bf16(Self.gradient(rank: $1, index: i))), $0)
                })
            }
            for r in 0..<3 {
                XCTAssertEqual(results[r]!.map(\.bitPattern), expected.map(\.bitPattern), "\(mode), rank \(r)")
            }
            // Not the float32 sum: rounding to bf16 is visible.
            let exact = (0..<n).map { i in (0..<3).reduce(Float(0)) { $0 + Self.gradient(rank: $1, index: i) } }
            XCTAssertNotEqual(results[0]!, exact, "\(mode)")
        }
    }
}
