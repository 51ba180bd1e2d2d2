// OnnxReference: a plain NCHW interpreter for the ONNX operators the exporter writes
// (Conv, BatchNormalization, Relu, Add, Mul, MaxPool, GlobalAveragePool, Flatten, Gemm),
// straight from the operators' definitions, so that tests run an exported graph read
// back from its bytes and compare it with the network's own inference.
import Export
import Foundation

struct OnnxReference {
    struct Value {
        var shape: [Int]
        var data: [Float]
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let model: Onnx_ModelProto

    /// Runs the graph on `input` (the graph's single input) and returns its first output.
    func run(_ input: Value) throws -> Value {
        var values: [String: Value] = [:]
        for t in model.graph.initializer {
            guard t.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
                throw Failure(description: "\(t.name): not float32")
            }
            values[t.name] = Value(shape: t.dims.map { Int($0) }, data: Self.floats(t.rawData))
        }
        values[model.graph.input[0].name] = input
        for n in model.graph.node {
            let inputs = try n.input.map { name -> Value in
                guard let v = values[name] else { throw Failure(description: "\(n.name): input \(name) not computed yet") }
                return v
            }
            values[n.output[0]] = try evaluate(n, inputs)
        }
        guard let out = values[model.graph.output[0].name] else { throw Failure(description: "no output value") }
        return out
    }

    static func floats(_ data: Data) -> [Float] {
        stride(from: 0, to: data.count, by: 4).map { i in
            var bits: UInt32 = 0
            for b in 0..<4 { bits |= UInt32(data[data.startIndex + i + b]) << (8 * UInt32(b)) }
            return Float(bitPattern: bits)
        }
    }

    static func ints(_ n: Onnx_NodeProto, _ name: String) -> [Int]? {
        n.attribute.first { $0.name == name }.map { $0.ints.map { Int($0) } }
    }

    static func int(_ n: Onnx_NodeProto, _ name: String) -> Int? {
        n.attribute.first { $0.name == name }.map { Int($0.i) }
    }

    func evaluate(_ n: Onnx_NodeProto, _ x: [Value]) throws -> Value {
        switch n.opType {
        case "Conv": return Self.conv(x[0], x[1], x.count > 2 ? x[2] : nil, strides: Self.ints(n, "strides") ?? [1, 1],
                                      pads: Self.ints(n, "pads") ?? [0, 0, 0, 0])
        case "BatchNormalization":
            let eps = n.attribute.first { $0.name == "epsilon" }?.f ?? 1e-5
            let (c, inner) = (x[0].shape[1], x[0].shape.dropFirst(2).reduce(1, *))
            var y = x[0]
            for i in 0..<y.data.count {
                let k = (i / inner) % c
                y.data[i] = (y.data[i] - x[3].data[k]) / (x[4].data[k] + eps).squareRoot() * x[1].data[k] + x[2].data[k]
            }
            return y
        case "Relu": return Value(shape: x[0].shape, data: x[0].data.map { max($0, 0) })
        case "Add", "Mul":
            let add = n.opType == "Add"
            var y = x[0]
            if x[1].data.count == y.data.count {
                for i in 0..<y.data.count { y.data[i] = add ? y.data[i] + x[1].data[i] : y.data[i] * x[1].data[i] }
            } else if x[1].shape == [1, y.shape[1], 1, 1] {
                let inner = y.shape.dropFirst(2).reduce(1, *)
                for i in 0..<y.data.count {
                    let b = x[1].data[(i / inner) % y.shape[1]]
                    y.data[i] = add ? y.data[i] + b : y.data[i] * b
                }
            } else {
                throw Failure(description: "\(n.name): cannot broadcast \(x[1].shape) to \(y.shape)")
            }
            return y
        case "MaxPool":
            return Self.maxPool(x[0], kernel: Self.ints(n, "kernel_shape")!, strides: Self.ints(n, "strides")!,
                                pads: Self.ints(n, "pads")!)
        case "GlobalAveragePool":
            let (b, c, hw) = (x[0].shape[0], x[0].shape[1], x[0].shape[2] * x[0].shape[3])
            let data = (0..<(b * c)).map { i in x[0].data[(i * hw)..<((i + 1) * hw)].reduce(0, +) / Float(hw) }
            return Value(shape: [b, c, 1, 1], data: data)
        case "Flatten":
            return Value(shape: [x[0].shape[0], x[0].shape.dropFirst().reduce(1, *)], data: x[0].data)
        case "Gemm":
            guard Self.int(n, "transB") == 1 else { throw Failure(description: "\(n.name): Gemm without transB") }
            let (b, k, m) = (x[0].shape[0], x[0].shape[1], x[1].shape[0])
            var y = [Float](repeating: 0, count: b * m)
            for r in 0..<b {
                for j in 0..<m {
                    var s: Float = x.count > 2 ? x[2].data[j] : 0
                    for i in 0..<k { s += x[0].data[r * k + i] * x[1].data[j * k + i] }
                    y[r * m + j] = s
                }
            }
            return Value(shape: [b, m], data: y)
        default:
            throw Failure(description: "\(n.name): operator \(n.opType) is not one the exporter writes")
        }
    }

    /// x: (N, C, H, W), w: (K, C, kh, kw) -> (N, K, H', W'); pads (top, left, bottom, right).
    static func conv(_ x: Value, _ w: Value, _ bias: Value?, strides: [Int], pads: [Int]) -> Value {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        precondition(w.shape[1] == c, "conv: weight \(w.shape) for input \(x.shape)")
        let oh = (h + pads[0] + pads[2] - kh) / strides[0] + 1, ow = (wd + pads[1] + pads[3] - kw) / strides[1] + 1
        var y = [Float](repeating: 0, count: n * k * oh * ow)
        for b in 0..<n {
            for o in 0..<k {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var s: Float = bias?.data[o] ?? 0
                        for i in 0..<c {
                            for dy in 0..<kh {
                                let iy = oy * strides[0] - pads[0] + dy
                                if iy < 0 || iy >= h { continue }
                                for dx in 0..<kw {
                                    let ix = ox * strides[1] - pads[1] + dx
                                    if ix < 0 || ix >= wd { continue }
                                    s += x.data[((b * c + i) * h + iy) * wd + ix] * w.data[((o * c + i) * kh + dy) * kw + dx]
                                }
                            }
                        }
                        y[((b * k + o) * oh + oy) * ow + ox] = s
                    }
                }
            }
        }
        return Value(shape: [n, k, oh, ow], data: y)
    }

    /// x: (N, C, H, W) -> (N, C, H', W'); padding never wins the maximum.
    static func maxPool(_ x: Value, kernel: [Int], strides: [Int], pads: [Int]) -> Value {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + pads[0] + pads[2] - kernel[0]) / strides[0] + 1, ow = (w + pads[1] + pads[3] - kernel[1]) / strides[1] + 1
        var y = [Float](repeating: -.infinity, count: n * c * oh * ow)
        for p in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for dy in 0..<kernel[0] {
                        let iy = oy * strides[0] - pads[0] + dy
                        if iy < 0 || iy >= h { continue }
                        for dx in 0..<kernel[1] {
                            let ix = ox * strides[1] - pads[1] + dx
                            if ix < 0 || ix >= w { continue }
                            y[(p * oh + oy) * ow + ox] = max(y[(p * oh + oy) * ow + ox], x.data[(p * h + iy) * w + ix])
                        }
                    }
                }
            }
        }
        return Value(shape: [n, c, oh, ow], data: y)
    }
}
