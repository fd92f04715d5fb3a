import Expressions

/// Where a number comes from: a citation, or an assumption with its rationale.
public enum Provenance: Sendable, Equatable {
    case source(String)
    case assumption(String)
    /// Neither given: a warning for a user's file; the models shipped in `models/` may not have it
    /// (a test checks).
    case unstated

    public var text: String {
        switch self {
        case .source(let s): return s
        case .assumption(let s): return "assumption: " + s
        case .unstated: return "no source or assumption given"
        }
    }
}

public struct Parameter: Sendable, Equatable {
    public var name: String
    public var value: Double
    public var unit: String
    public var description: String
    public var provenance: Provenance
    public var bounds: ClosedRange<Double>?
    public var location: SourceLocation

    public init(name: String, value: Double, unit: String, description: String, provenance: Provenance,
                bounds: ClosedRange<Double>? = nil, location: SourceLocation) {
        self.name = name
        self.value = value
        self.unit = unit
        self.description = description
        self.provenance = provenance
        self.bounds = bounds
        self.location = location
    }
}

/// A piecewise-constant signal set by scenarios (stress intensity, exercise...).
public struct Input: Sendable, Equatable {
    public var name: String
    public var defaultValue: Double
    public var unit: String
    public var description: String
    public var location: SourceLocation
}

public struct State: Sendable, Equatable {
    public var name: String
    public var initial: Double
    public var unit: String
    public var description: String
    /// Seed caption files the state encodes.
    public var captions: [String]
    /// Database identifiers: `hgnc`, `entrez`, `mesh`...
    public var identifiers: [String: String]
    public var location: SourceLocation

    public init(name: String, initial: Double, unit: String, description: String, captions: [String] = [],
                identifiers: [String: String] = [:], location: SourceLocation) {
        self.name = name
        self.initial = initial
        self.unit = unit
        self.description = description
        self.captions = captions
        self.identifiers = identifiers
        self.location = location
    }
}

public struct Assignment: Sendable, Equatable {
    public var name: String
    public var expression: Expr
    public var text: String
    public var unit: String?
    public var description: String?
    public var location: SourceLocation
}

public struct Route: Sendable, Equatable {
    public enum Bioavailability: Sendable, Equatable {
        case constant(Double)
        case parameter(String)
    }
    public var name: String
    /// State (amount, umol) that receives the dose.
    public var target: String
    public var bioavailability: Bioavailability
}

public struct Drug: Sendable, Equatable {
    public var name: String
    /// g/mol.
    public var molarMass: Double
    public var description: String
    public var routes: [Route]

    public func route(named name: String) -> Route? { routes.first { $0.name == name } }
}

public struct Organism: Sendable, Equatable {
    public var name: String
    public var description: String
    public var parameters: [String: Double]
    /// How a parameter varies between individuals of this organism (body weight, say), with its
    /// source: a virtual population may draw it instead of asking the user for a CV.
    public var variability: [ParameterVariability] = []
}

/// A parameter that is log-normal between individuals, with median the organism's value and this
/// coefficient of variation, as reported in `source`.
public struct ParameterVariability: Sendable, Equatable {
    public var parameter: String
    /// A fraction (0.24 for 24%).
    public var cv: Double
    public var source: String
    public init(parameter: String, cv: Double, source: String) {
        self.parameter = parameter
        self.cv = cv
        self.source = source
    }
}

/// A value an input takes over [from, to).
public struct InputPeriod: Sendable, Equatable, Codable {
    public var value: Double
    public var from: Double
    public var to: Double
    public init(value: Double, from: Double, to: Double) {
        self.value = value
        self.from = from
        self.to = to
    }
}

public struct Scenario: Sendable, Equatable {
    public enum Start: String, Sendable, Equatable { case steadyState = "steady_state", initial }
    public var name: String
    public var description: String
    public var organism: String?
    /// Hours.
    public var tEnd: Double
    /// Hours.
    public var outputEvery: Double
    public var start: Start
    public var steadyStateInputs: [String: Double]
    public var inputs: [String: [InputPeriod]]
    public var parameters: [String: Double]
    public var doses: [DoseRegimen]
    public var treatment: String?
    public var location: SourceLocation

    public init(name: String, description: String, organism: String?, tEnd: Double, outputEvery: Double, start: Start,
                steadyStateInputs: [String: Double], inputs: [String: [InputPeriod]], parameters: [String: Double],
                doses: [DoseRegimen], treatment: String?, location: SourceLocation) {
        self.name = name
        self.description = description
        self.organism = organism
        self.tEnd = tEnd
        self.outputEvery = outputEvery
        self.start = start
        self.steadyStateInputs = steadyStateInputs
        self.inputs = inputs
        self.parameters = parameters
        self.doses = doses
        self.treatment = treatment
        self.location = location
    }
}

/// A validated model: every name resolves, every state has one equation, assignments are ordered so
/// each uses only those before it.
public struct ModelDefinition: Sendable {
    public var file: String
    public var name: String
    public var description: String
    public var timeUnit: TimeUnit
    public var references: [String]
    public var parameters: [Parameter]
    public var inputs: [Input]
    public var states: [State]
    /// In dependency order.
    public var assignments: [Assignment]
    /// d(states[i])/dt.
    public var odes: [Expr]
    public var outputs: [String]
    public var drugs: [Drug]
    public var organisms: [Organism]
    public var scenarios: [Scenario]
    /// State changes at conditions (from imported SBML); empty for ketasim's own files.
    public var events: [ModelEvent] = []
    /// What is questionable but not wrong (an unknown unit, a parameter with no source or
    /// assumption), each with its place; the model loads.
    public var warnings: [ModelProblem] = []

    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }
    public func state(named name: String) -> State? { states.first { $0.name == name } }
    public func drug(named name: String) -> Drug? { drugs.first { $0.name == name } }
    public func organism(named name: String) -> Organism? { organisms.first { $0.name == name } }
    public func scenario(named name: String) -> Scenario? { scenarios.first { $0.name == name } }
    public func input(named name: String) -> Input? { inputs.first { $0.name == name } }

    /// States and assignments: what can be written as an output.
    public var observableNames: [String] { states.map(\.name) + assignments.map(\.name) }

    /// Parameter values after an organism's overrides and then explicit ones.
    public func parameterValues(organism: String?, overrides: [String: Double] = [:]) -> [Double] {
        let org = organism.flatMap { self.organism(named: $0) }
        return parameters.map { p in overrides[p.name] ?? org?.parameters[p.name] ?? p.value }
    }
}
