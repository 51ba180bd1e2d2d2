// SynthPerson: the appearance of one synthetic pedestrian, independent of any camera:
// build, skin, hair, upper and lower clothing with colors and patterns, shoes and
// accessories (backpack, shoulder bag, hat). Some identities are deliberate
// look-alikes: a copy of another identity with one or two details changed.
import Tensors

public struct SynthPerson: Codable, Hashable, Sendable {
    public enum Pattern: String, Codable, Sendable, CaseIterable {
        case solid, horizontalStripes, verticalStripes, checks, chestLogo, twoTone
    }

    public enum Lower: String, Codable, Sendable { case trousers, shorts, skirt }
    public enum Hair: String, Codable, Sendable { case short, long, bald }

    /// Fraction of the crop height the person fills, and a width factor.
    public var height: Double
    public var build: Double
    public var skin: Color
    public var hair: Hair
    public var hairColor: Color
    public var upper: Color
    public var upperSecond: Color
    public var pattern: Pattern
    public var longSleeves: Bool
    public var lower: Lower
    public var lowerColor: Color
    public var shoes: Color
    public var backpack: Color?
    /// A shoulder bag hanging on the left (-1) or right (+1) side.
    public var bagSide: Int
    public var bag: Color?
    public var hat: Color?

    static let clothing: [Color] = [
        Color(0.08, 0.08, 0.09), Color(0.92, 0.92, 0.9), Color(0.55, 0.55, 0.57), Color(0.75, 0.12, 0.12),
        Color(0.12, 0.2, 0.55), Color(0.15, 0.45, 0.2), Color(0.95, 0.8, 0.15), Color(0.55, 0.35, 0.2),
        Color(0.5, 0.2, 0.55), Color(0.95, 0.5, 0.15), Color(0.4, 0.6, 0.85), Color(0.9, 0.6, 0.7),
        Color(0.2, 0.3, 0.3), Color(0.75, 0.7, 0.55), Color(0.3, 0.15, 0.1), Color(0.1, 0.35, 0.45),
    ]
    static let skins: [Color] = [
        Color(0.96, 0.8, 0.69), Color(0.87, 0.68, 0.55), Color(0.76, 0.57, 0.42), Color(0.6, 0.42, 0.3),
        Color(0.45, 0.3, 0.2), Color(0.32, 0.21, 0.14),
    ]
    static let hairs: [Color] = [
        Color(0.05, 0.04, 0.03), Color(0.25, 0.15, 0.08), Color(0.5, 0.35, 0.2), Color(0.8, 0.7, 0.45),
        Color(0.6, 0.6, 0.6),
    ]

    /// A random person from the identity's own stream.
    public static func random(_ rng: inout SeededRandom) -> SynthPerson {
        let upper = rng.pick(clothing).jittered(&rng, 0.06)
        var second = rng.pick(clothing).jittered(&rng, 0.06)
        if abs(second.r - upper.r) + abs(second.g - upper.g) + abs(second.b - upper.b) < 0.3 {
            second = Color(1 - upper.r, 1 - upper.g, 1 - upper.b)
        }
        let patterns: [Pattern] = Pattern.allCases
        let pattern = patterns[rng.weighted([5, 1.5, 1, 1, 1.5, 1])]
        return SynthPerson(
            height: rng.uniform(0.82, 0.96), build: rng.uniform(0.85, 1.2), skin: rng.pick(skins).jittered(&rng, 0.03),
            hair: [Hair.short, .long, .bald][rng.weighted([5, 3, 0.6])], hairColor: rng.pick(hairs).jittered(&rng, 0.04),
            upper: upper, upperSecond: second, pattern: pattern, longSleeves: rng.chance(0.6),
            lower: [Lower.trousers, .shorts, .skirt][rng.weighted([6, 1.5, 1.5])],
            lowerColor: rng.pick(clothing).jittered(&rng, 0.06), shoes: rng.pick(clothing).jittered(&rng, 0.05),
            backpack: rng.chance(0.3) ? rng.pick(clothing).jittered(&rng, 0.05) : nil,
            bagSide: rng.chance(0.5) ? -1 : 1, bag: rng.chance(0.22) ? rng.pick(clothing).jittered(&rng, 0.05) : nil,
            hat: rng.chance(0.12) ? rng.pick(clothing).jittered(&rng, 0.05) : nil)
    }

    /// A look-alike: this person with one or two details changed (shoes, bag, backpack,
    /// hat, pattern, lower color or a slightly different upper shade).
    public func lookAlike(_ rng: inout SeededRandom) -> SynthPerson {
        var p = self
        p.height = min(0.97, max(0.8, height + rng.uniform(-0.03, 0.03)))
        for _ in 0..<(1 + rng.int(2)) {
            switch rng.int(7) {
            case 0: p.shoes = SynthPerson.clothing[rng.int(SynthPerson.clothing.count)]
            case 1: p.bag = bag == nil ? SynthPerson.clothing[rng.int(SynthPerson.clothing.count)] : nil
            case 2: p.backpack = backpack == nil ? SynthPerson.clothing[rng.int(SynthPerson.clothing.count)] : nil
            case 3: p.hat = hat == nil ? SynthPerson.clothing[rng.int(SynthPerson.clothing.count)] : nil
            case 4: p.pattern = Pattern.allCases[rng.int(Pattern.allCases.count)]
            case 5: p.lowerColor = SynthPerson.clothing[rng.int(SynthPerson.clothing.count)]
            default: p.upper = upper.jittered(&rng, 0.18)
            }
        }
        return p
    }
}
