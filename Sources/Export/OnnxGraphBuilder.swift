// OnnxGraphBuilder: assembles an ONNX graph step by step: float32 initializers (stored as
// little-endian raw data), nodes with their attributes, and the shape of every value a
// node produces (tracked without the batch dimension, written to the graph's value_info
// with it), so that the graph states every intermediate shape.
import Foundation

struct OnnxGraphBuilder {
    /// The leading dimension of every activation: a fixed batch size or a symbolic name.
    enum BatchDimension {
        case fixed(Int)
        case symbolic(String)
    }

    let batch: BatchDimension
    private(set) var graph = Onnx_GraphProto()
    /// Shape of each activation value without the batch dimension, e.g. [C, H, W].
    private(set) var shapes: [String: [Int]] = [:]
    private var used: Set<String> = []

    init(name: String, batch: BatchDimension) {
        self.batch = batch
        graph.name = name
    }

    /// Declares a graph input `name` of float32 values, shape (batch, dims...).
    mutating func input(_ name: String, dims: [Int], doc: String) {
        claim(name)
        shapes[name] = dims
        var v = valueInfo(name, dims: dims)
        v.docString = doc
        graph.input.append(v)
    }

    /// Adds a float32 initializer `name` with shape `dims` (row-major values); returns its name.
    @discardableResult
    mutating func initializer(_ name: String, dims: [Int], values: [Float]) -> String {
        precondition(dims.reduce(1, *) == values.count, "initializer \(name): \(values.count) values for dims \(dims)")
        claim(name)
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var data = Data(capacity: values.count * 4)
        for v in values {
            var bits = v.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
        }
        t.rawData = data
        graph.initializer.append(t)
        return name
    }

    /// Appends a node `op` named `name` whose single output (also called `name`) has
    /// shape `dims` without the batch dimension; returns the output's name.
    @discardableResult
    mutating func node(_ op: String, name: String, inputs: [String], dims: [Int],
                       attributes: [Onnx_AttributeProto] = []) -> String {
        claim(name)
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = [name]
        n.attribute = attributes
        graph.node.append(n)
        shapes[name] = dims
        graph.valueInfo.append(valueInfo(name, dims: dims))
        return name
    }

    /// Makes `value`, the output of the last node, the graph output `name`.
    mutating func output(_ value: String, as name: String, doc: String) {
        precondition(graph.node.last?.output == [value], "output \(value): not the last node's output")
        let dims = shapes[value]!
        claim(name)
        graph.node[graph.node.count - 1].output = [name]
        graph.valueInfo.removeAll { $0.name == value }
        shapes[name] = dims
        var v = valueInfo(name, dims: dims)
        v.docString = doc
        graph.output.append(v)
    }

    /// A float32 value's description, shape (batch, dims...).
    func valueInfo(_ name: String, dims: [Int]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        var first = Onnx_TensorShapeProto.Dimension()
        switch batch {
        case .fixed(let n): first.dimValue = Int64(n)
        case .symbolic(let s): first.dimParam = s
        }
        shape.dim = [first] + dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(d)
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type = type
        return v
    }

    private mutating func claim(_ name: String) {
        precondition(used.insert(name).inserted, "ONNX graph: the name \(name) is used twice")
    }

    static func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = ints.map(Int64.init)
        return a
    }

    static func attribute(_ name: String, int: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(int)
        return a
    }

    static func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = float
        return a
    }
}
