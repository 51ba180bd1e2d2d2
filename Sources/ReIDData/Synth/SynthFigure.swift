// SynthFigure: one synthetic person placed in a crop and seen from one view, drawn part
// by part in painting order: a backpack sticking out behind (side views), legs and lower
// clothing, the torso with its pattern, backpack straps or the backpack itself, arms, a
// shoulder bag, then head, hair and hat.
import Tensors

/// The geometry of a person drawn at `size` pixels from head to feet (u below), feet at
/// `feetY`, body axis at `cx`; every part's position is a fraction of u.
struct SynthFigure {
    let p: SynthPerson
    let view: SynthView
    let cx: Double, feetY: Double, u: Double
    let top: Double
    let side: Bool
    /// -1 when the person faces left, else 1.
    let facing: Double
    /// Half the torso's width.
    let tw: Double
    let torsoTop: Double, torsoBottom: Double
    let legTop: Double, legBottom: Double, legW: Double
    /// How far the feet are apart in a side view (a walking stride).
    let stride: Double
    let armW: Double

    /// Draws the stride (side views only) from `rng`.
    init(_ p: SynthPerson, view: SynthView, centerX cx: Double, feetY: Double, size u: Double,
         rng: inout SeededRandom) {
        self.p = p
        self.view = view
        self.cx = cx
        self.feetY = feetY
        self.u = u
        top = feetY - u
        side = view == .left || view == .right
        facing = view == .left ? -1 : 1
        tw = (side ? 0.075 : 0.125) * u * p.build
        torsoTop = top + 0.14 * u
        torsoBottom = top + 0.5 * u
        legTop = torsoBottom
        legBottom = top + 0.95 * u
        legW = 0.055 * u * p.build
        stride = side ? rng.uniform(0.02, 0.06) * u : 0
        armW = 0.045 * u * p.build
    }

    func draw(on c: inout Canvas) {
        backpackBehind(on: &c)
        legs(on: &c)
        torso(on: &c)
        backpack(on: &c)
        arms(on: &c)
        shoulderBag(on: &c)
        head(on: &c)
    }

    /// A backpack seen from the side sticks out behind the torso.
    func backpackBehind(on c: inout Canvas) {
        guard let bp = p.backpack, side else { return }
        c.rect(cx - facing * (tw + 0.07 * u), torsoTop + 0.02 * u, cx - facing * tw + facing * 0.01 * u,
               torsoTop + 0.28 * u, bp)
    }

    /// Legs, lower clothing and shoes; a skirt widens from the waist.
    func legs(on c: inout Canvas) {
        let legCenters = side ? [cx - stride, cx + stride] : [cx - legW * 0.65, cx + legW * 0.65]
        let clothEnd: Double
        switch p.lower {
        case .trousers: clothEnd = legBottom
        case .shorts: clothEnd = top + 0.68 * u
        case .skirt: clothEnd = top + 0.7 * u
        }
        for lx in legCenters {
            c.rect(lx - legW / 2, legTop, lx + legW / 2, legBottom, p.skin.scaled(0.95))
            c.rect(lx - legW / 2, legTop, lx + legW / 2, clothEnd, p.lowerColor)
            let shoeFront = side ? facing * 0.03 * u : 0
            c.rect(lx - legW / 2 - 0.005 * u + min(0, shoeFront), legBottom, lx + legW / 2 + 0.005 * u + max(0, shoeFront),
                   feetY, p.shoes)
        }
        if p.lower == .skirt {
            // A trapezoid widening from the waist, drawn row by row.
            let rows = max(1, Int((clothEnd - legTop).rounded()))
            for r in 0..<rows {
                let t = Double(r) / Double(rows)
                let half = tw * (0.9 + 0.35 * t)
                c.rect(cx - half, legTop + Double(r), cx + half, legTop + Double(r + 1), p.lowerColor)
            }
        }
    }

    /// The torso with its pattern; the logo only shows from the front.
    func torso(on c: inout Canvas) {
        let period = max(2, 0.05 * u)
        c.rect(cx - tw, torsoTop, cx + tw, torsoBottom) { x, y in
            let fx = Double(x) - cx, fy = Double(y) - torsoTop
            switch p.pattern {
            case .solid, .twoTone: return p.upper
            case .horizontalStripes: return Int(fy / period) % 2 == 0 ? p.upper : p.upperSecond
            case .verticalStripes: return Int((fx + 100 * period) / period) % 2 == 0 ? p.upper : p.upperSecond
            case .checks:
                return (Int(fy / period) + Int((fx + 100 * period) / period)) % 2 == 0 ? p.upper : p.upperSecond
            case .chestLogo:
                let onChest = view == .front && abs(fx) < tw * 0.45 && fy > 0.06 * u && fy < 0.16 * u
                return onChest ? p.upperSecond : p.upper
            }
        }
    }

    /// Front straps of a backpack; the backpack itself from behind.
    func backpack(on c: inout Canvas) {
        guard let bp = p.backpack else { return }
        if view == .front {
            for sx in [-0.55, 0.55] { c.rect(cx + sx * tw - 0.015 * u, torsoTop, cx + sx * tw + 0.015 * u, torsoTop + 0.2 * u, bp) }
        } else if view == .back {
            c.rect(cx - tw * 0.8, torsoTop + 0.03 * u, cx + tw * 0.8, torsoTop + 0.3 * u, bp)
            c.rect(cx - tw * 0.6, torsoTop + 0.2 * u, cx + tw * 0.6, torsoTop + 0.24 * u, bp.scaled(0.75))
        }
    }

    /// Arms with short or long sleeves (in the second color for a two-tone top); one arm
    /// shows from the side.
    func arms(on c: inout Canvas) {
        let sleeve = p.pattern == .twoTone ? p.upperSecond : p.upper
        let sleeveEnd = p.longSleeves ? torsoTop + 0.33 * u : torsoTop + 0.12 * u
        let armXs = side ? [cx + facing * 0.01 * u] : [cx - tw - armW * 0.55, cx + tw + armW * 0.55]
        for ax in armXs {
            c.rect(ax - armW / 2, torsoTop + 0.01 * u, ax + armW / 2, torsoTop + 0.35 * u, p.skin)
            c.rect(ax - armW / 2, torsoTop + 0.01 * u, ax + armW / 2, sleeveEnd, sleeve)
        }
    }

    /// A shoulder bag on its side: seen from the front on that side, mirrored from behind,
    /// and from the side it hangs on only.
    func shoulderBag(on c: inout Canvas) {
        guard let bag = p.bag else { return }
        let visible: Bool
        var bx: Double
        switch view {
        case .front: visible = true; bx = cx + Double(p.bagSide) * (tw + armW + 0.02 * u)
        case .back: visible = true; bx = cx - Double(p.bagSide) * (tw + armW + 0.02 * u)
        case .left: visible = p.bagSide == -1; bx = cx - 0.02 * u
        case .right: visible = p.bagSide == 1; bx = cx + 0.02 * u
        }
        if visible {
            c.rect(bx - 0.045 * u, torsoBottom - 0.1 * u, bx + 0.045 * u, torsoBottom + 0.05 * u, bag)
            c.rect(cx - tw * 0.9, torsoTop + 0.02 * u, cx + tw * 0.9, torsoTop + 0.035 * u, bag.scaled(0.8))
        }
    }

    /// Neck, head, hair as the view shows it, and a hat with its brim.
    func head(on c: inout Canvas) {
        let headY = top + 0.07 * u, headRy = 0.065 * u, headRx = (side ? 0.055 : 0.05) * u
        c.rect(cx - 0.02 * u, top + 0.12 * u, cx + 0.02 * u, torsoTop + 0.01 * u, p.skin.scaled(0.92))
        c.ellipse(cx, headY, headRx, headRy, p.skin)
        switch (p.hair, view) {
        case (.bald, _): break
        case (_, .back):
            c.ellipse(cx, headY, headRx * 1.05, headRy * 1.03, p.hairColor)
            if p.hair == .long { c.rect(cx - headRx, headY, cx + headRx, torsoTop + 0.1 * u, p.hairColor) }
        case (_, .front):
            c.ellipse(cx, headY - headRy * 0.35, headRx * 1.05, headRy * 0.7, p.hairColor, clipY: (headY - 2 * headRy)...(headY - headRy * 0.2))
            if p.hair == .long {
                c.rect(cx - headRx * 1.1, headY - headRy * 0.3, cx - headRx * 0.75, torsoTop + 0.08 * u, p.hairColor)
                c.rect(cx + headRx * 0.75, headY - headRy * 0.3, cx + headRx * 1.1, torsoTop + 0.08 * u, p.hairColor)
            }
        case (_, .left), (_, .right):
            c.ellipse(cx - facing * headRx * 0.25, headY - headRy * 0.2, headRx * 0.95, headRy * 0.85, p.hairColor)
            if p.hair == .long { c.rect(cx - facing * headRx, headY, cx - facing * headRx * 0.2, torsoTop + 0.1 * u, p.hairColor) }
        }
        if let hat = p.hat {
            c.rect(cx - headRx * 1.15, headY - headRy * 1.1, cx + headRx * 1.15, headY - headRy * 0.45, hat)
            if view != .back { c.rect(cx - headRx * 1.3 + (side ? facing * headRx : 0), headY - headRy * 0.6,
                                      cx + headRx * 1.3 + (side ? facing * headRx : 0), headY - headRy * 0.45, hat.scaled(0.8)) }
        }
    }
}
