// Elementwise: ReLU forward and backward, and the residual addition `y = a + b`
// (optionally followed by ReLU), through oneDNN's eltwise and binary primitives so that
// they run on every thread. Any shape; sizes must match.
import CDNNL

/// Elementwise kernels.
public enum Elementwise {
    /// y = max(x, 0). `y` may be `x`.
    public static func reluForward(x: Tensor, y: Tensor) {
        sameSize(x, y, "Elementwise.reluForward")
        let p = reluPlan(x.count)
        DNNL.current.execute(p.forward, [(Arg.src, p.src.bind(x.data)), (Arg.dst, p.dst.bind(y.data))], "ReLU forward")
    }

    /// dx = dy where y > 0, else 0, from the forward output y. `dx` may be `dy`.
    public static func reluBackward(y: Tensor, dy: Tensor, dx: Tensor) {
        sameSize(y, dy, "Elementwise.reluBackward")
        sameSize(dy, dx, "Elementwise.reluBackward")
        let p = reluPlan(y.count)
        let b = p.backwardPlan
        DNNL.current.execute(b.primitive, [(Arg.dst, b.dst.bind(y.data)), (Arg.diffDst, b.diffDst.bind(dy.data)),
                                          (Arg.diffSrc, b.diffSrc.bind(dx.data))], "ReLU backward")
    }

    /// y = a + b, or relu(a + b) with `relu`. `y` may be `a` or `b`. The backward of the
    /// sum passes dy to both inputs unchanged; with ReLU, take `reluBackward` of y first.
    public static func add(_ a: Tensor, _ b: Tensor, into y: Tensor, relu: Bool = false) {
        sameSize(a, b, "Elementwise.add")
        sameSize(a, y, "Elementwise.add")
        let p = DNNL.current.cached(PrimitiveKey(op: .add, params: [a.count, relu ? 1 : 0])) { AddPlan(a.count, relu: relu) }
        DNNL.current.execute(p.primitive, [(1, p.a.bind(a.data)), (2, p.b.bind(b.data)), (Arg.dst, p.dst.bind(y.data))],
                            "residual add")
    }

    private static func sameSize(_ a: Tensor, _ b: Tensor, _ what: String) {
        require(a.count == b.count, "\(what): shapes \(a.shape) and \(b.shape) differ")
    }

    static func reluPlan(_ count: Int) -> ReLUPlan {
        DNNL.current.cached(PrimitiveKey(op: .relu, params: [count])) { ReLUPlan(count) }
    }
}

final class ReLUPlan {
    let count: Int
    let forwardPD: dnnl_primitive_desc_t
    let forward: dnnl_primitive_t
    let src, dst: BoundMemory

    init(_ count: Int) {
        self.count = count
        var md = memoryDesc([count], dnnl_a)
        var desc = dnnl_eltwise_desc_t()
        DNNL.check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                                  &md, 0, 0), "describing ReLU of \(count)")
        (forwardPD, forward) = makePrimitive(&desc, "ReLU of \(count)")
        src = BoundMemory(md)
        dst = BoundMemory(md)
    }

    final class Backward {
        let primitive: dnnl_primitive_t
        let dst, diffDst, diffSrc: BoundMemory

        init(_ plan: ReLUPlan) {
            var md = memoryDesc([plan.count], dnnl_a)
            var diff = md
            var desc = dnnl_eltwise_desc_t()
            DNNL.check(dnnl_eltwise_backward_desc_init(&desc, dnnl_eltwise_relu_use_dst_for_bwd, &diff, &md, 0, 0),
                       "describing ReLU backward of \(plan.count)")
            (_, primitive) = makePrimitive(&desc, hint: plan.forwardPD, "ReLU backward of \(plan.count)")
            dst = BoundMemory(md)
            diffDst = BoundMemory(md)
            diffSrc = BoundMemory(md)
        }
    }

    lazy var backwardPlan = Backward(self)
}

final class AddPlan {
    let primitive: dnnl_primitive_t
    let a, b, dst: BoundMemory

    init(_ count: Int, relu: Bool) {
        var md = memoryDesc([count], dnnl_a)
        var m1 = md, m2 = md
        var desc = dnnl_binary_desc_t()
        DNNL.check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &m1, &m2, &md), "describing add of \(count)")
        var attr: dnnl_primitive_attr_t?
        if relu {
            DNNL.check(dnnl_primitive_attr_create(&attr), "creating add attributes")
            var ops: dnnl_post_ops_t?
            DNNL.check(dnnl_post_ops_create(&ops), "creating post-ops")
            DNNL.check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "appending ReLU")
            DNNL.check(dnnl_primitive_attr_set_post_ops(attr, ops), "setting post-ops")
            dnnl_post_ops_destroy(ops)
        }
        (_, primitive) = makePrimitive(&desc, attr: attr, "add of \(count)")
        if let attr { dnnl_primitive_attr_destroy(attr) }
        a = BoundMemory(md)
        b = BoundMemory(md)
        dst = BoundMemory(md)
    }
}
