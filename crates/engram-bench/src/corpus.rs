//! Synthetic long conversations with known evidence, for the memory-quality
//! benchmark: clinic, dental, legal and retail customers in Portuguese and
//! English, several sessions days apart, hundreds of turns each, with facts
//! stated early, facts changed later and facts buried in small talk, and a
//! question per fact whose evidence message ids are known.
//!
//! Deterministic: the same seed gives the same corpus.
//! Long because it is data: the templates of each vertical's turns.

/// A fact planted in the history and the question that needs it.
struct Probe {
    kind: ProbeKind,
    /// What the customer says (for `Changed`, the later value).
    statement: &'static str,
    /// For `Changed`: what was said first and is no longer true.
    earlier: Option<&'static str>,
    question: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Said in the first session.
    Early,
    /// Said early, then changed in a later session; the evidence is the
    /// change.
    Changed,
    /// Said in passing, inside small talk.
    Buried,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Early => "stated early",
            ProbeKind::Changed => "changed later",
            ProbeKind::Buried => "buried in small talk",
        }
    }
}

/// The phrases of one vertical in one language.
struct Script {
    vertical: &'static str,
    lang: &'static str,
    probes: &'static [Probe],
    /// The customer's ordinary turns; `{n}` takes a number.
    user: &'static [&'static str],
    /// The agent's turns.
    assistant: &'static [&'static str],
    /// Small talk around a buried fact: before and after.
    small_talk: (&'static str, &'static str),
}

const fn early(statement: &'static str, question: &'static str) -> Probe {
    Probe {
        kind: ProbeKind::Early,
        statement,
        earlier: None,
        question,
    }
}

const fn changed(earlier: &'static str, statement: &'static str, question: &'static str) -> Probe {
    Probe {
        kind: ProbeKind::Changed,
        statement,
        earlier: Some(earlier),
        question,
    }
}

const fn buried(statement: &'static str, question: &'static str) -> Probe {
    Probe {
        kind: ProbeKind::Buried,
        statement,
        earlier: None,
        question,
    }
}

const SCRIPTS: &[Script] = &[
    Script {
        vertical: "clinic",
        lang: "pt",
        probes: &[
            early(
                "Sou alérgica a dipirona, tive uma reação forte da última vez.",
                "A paciente tem alergia a algum medicamento?",
            ),
            early(
                "Tomo losartana 50 mg todas as manhãs por causa da pressão alta.",
                "Que remédio ela usa para hipertensão?",
            ),
            changed(
                "Meu convênio é a Unimed, plano básico.",
                "Troquei de plano de saúde: agora é Bradesco Saúde, desde este mês.",
                "Qual é o plano de saúde atual da paciente?",
            ),
            changed(
                "Prefiro consultas de manhã, antes das dez.",
                "Agora só consigo ir à tarde, depois das quinze horas, por causa do trabalho novo.",
                "Em que horário ela pode vir às consultas?",
            ),
            buried(
                "minha mãe teve câncer de mama aos cinquenta anos",
                "Há histórico de câncer na família dela?",
            ),
            buried(
                "fiz uma cirurgia de apendicite em 2019",
                "Ela já passou por alguma operação?",
            ),
        ],
        user: &[
            "Quero confirmar a consulta do dia {n}.",
            "Vocês recebem o pedido de exame por e-mail?",
            "Qual o endereço da clínica mesmo?",
            "O resultado do hemograma já saiu?",
            "Posso levar um acompanhante?",
            "Preciso de uma declaração de comparecimento.",
            "Tem estacionamento no prédio?",
            "Quanto tempo demora a consulta?",
            "O médico atende às sextas?",
            "Recebi a mensagem de lembrete, obrigada.",
            "Vou chegar uns {n} minutos atrasada.",
            "Pode reenviar o boleto da consulta particular?",
            "A receita vale por quantos dias?",
            "Posso remarcar para a semana que vem?",
        ],
        assistant: &[
            "Claro, um momento que vou verificar.",
            "Perfeito, já deixei anotado.",
            "Sim, está confirmado para as {n} horas.",
            "A clínica fica na Rua das Flores, 120, sala {n}.",
            "O resultado deve sair em até {n} dias úteis.",
            "Pode sim, sem problema.",
            "Enviei agora por e-mail, confira a caixa de entrada.",
            "Certo, vou avisar a recepção.",
            "Temos horários livres na quarta e na quinta.",
            "Qualquer dúvida estou à disposição.",
        ],
        small_talk: (
            "Nossa, que calor hoje, o trânsito estava um caos. Ah, lembrei:",
            "Enfim, vamos ver a agenda.",
        ),
    },
    Script {
        vertical: "clinic",
        lang: "en",
        probes: &[
            early(
                "I'm allergic to penicillin, I broke out in hives last time.",
                "Does the patient have any drug allergy?",
            ),
            early(
                "I take metformin twice a day for my type 2 diabetes.",
                "What medication does she take for her blood sugar?",
            ),
            changed(
                "My insurance is Aetna, the basic plan.",
                "I switched insurers, it's Cigna now as of this month.",
                "Which health insurer covers the patient now?",
            ),
            changed(
                "Mornings work best for me, before ten.",
                "I can only come in the afternoon now, after three, because of my new job.",
                "When is the patient available for appointments?",
            ),
            buried(
                "my father had a heart attack at fifty-two",
                "Is there a history of heart disease in her family?",
            ),
            buried(
                "I had my gallbladder removed back in 2018",
                "Has she had any surgery before?",
            ),
        ],
        user: &[
            "I'd like to confirm my appointment on the {n}th.",
            "Can you email me the lab request?",
            "What's the clinic's address again?",
            "Are my blood test results ready?",
            "Can I bring someone with me?",
            "I need a note for my employer.",
            "Is there parking in the building?",
            "How long does the visit take?",
            "Does the doctor see patients on Fridays?",
            "Got the reminder text, thanks.",
            "I'll be about {n} minutes late.",
            "Could you resend the invoice?",
            "How long is the prescription valid?",
            "Can I move it to next week?",
        ],
        assistant: &[
            "Sure, let me check that for you.",
            "Perfect, I've made a note of it.",
            "Yes, you're confirmed for {n} o'clock.",
            "We're at 120 Flower Street, suite {n}.",
            "Results usually take up to {n} business days.",
            "Of course, no problem.",
            "I've just emailed it, please check your inbox.",
            "Okay, I'll let the front desk know.",
            "We have openings on Wednesday and Thursday.",
            "Let me know if there's anything else.",
        ],
        small_talk: (
            "Wow, the traffic was terrible this morning and it's so hot. Oh, by the way,",
            "Anyway, let's look at the schedule.",
        ),
    },
    Script {
        vertical: "dental",
        lang: "pt",
        probes: &[
            early(
                "Tenho muita sensibilidade no dente do fundo do lado esquerdo quando tomo gelado.",
                "Onde o paciente sente sensibilidade nos dentes?",
            ),
            early(
                "Uso aparelho fixo há dois anos com o doutor Ricardo.",
                "O paciente faz tratamento ortodôntico?",
            ),
            changed(
                "Quero fazer o clareamento a laser.",
                "Desisti do laser, prefiro o clareamento caseiro com moldeira.",
                "Que tipo de clareamento o paciente escolheu?",
            ),
            changed(
                "Pode cobrar no cartão de crédito em três vezes.",
                "Mudei de ideia sobre o pagamento: vou pagar tudo no Pix à vista.",
                "Como o paciente vai pagar o tratamento?",
            ),
            buried(
                "tenho pavor de agulha desde criança",
                "O paciente tem medo de injeção?",
            ),
            buried(
                "ranjo os dentes à noite, minha esposa reclama do barulho",
                "Ele tem bruxismo?",
            ),
        ],
        user: &[
            "Quero confirmar a limpeza do dia {n}.",
            "Quanto custa uma restauração?",
            "Vocês atendem sábado?",
            "A gengiva sangrou um pouco ao escovar.",
            "Posso comer depois da aplicação de flúor?",
            "Preciso remarcar a manutenção.",
            "Tem estacionamento conveniado?",
            "Quanto tempo dura a sessão?",
            "O raio-x panorâmico já está pronto?",
            "Recebi o lembrete, obrigado.",
            "Vou atrasar uns {n} minutos.",
            "Pode mandar o orçamento por WhatsApp?",
            "Qual a pasta de dente que a doutora indicou?",
            "Tem horário na semana que vem?",
        ],
        assistant: &[
            "Claro, deixa eu ver na agenda.",
            "Anotado, obrigado por avisar.",
            "Confirmado para as {n} horas.",
            "A restauração sai a partir de {n}0 reais.",
            "Atendemos sábado até o meio-dia.",
            "Pode sim, depois de trinta minutos.",
            "Enviei o orçamento agora.",
            "Certo, vou avisar a doutora.",
            "Temos vaga na terça e na quinta.",
            "Qualquer coisa é só chamar.",
        ],
        small_talk: (
            "Que chuva ontem, hein? Meu time perdeu de novo. Ah, e",
            "Mas então, sobre a consulta.",
        ),
    },
    Script {
        vertical: "dental",
        lang: "en",
        probes: &[
            early(
                "My lower left molar is really sensitive to cold drinks.",
                "Where does the patient feel tooth sensitivity?",
            ),
            early(
                "I've had braces for two years with Dr. Richards.",
                "Is the patient in orthodontic treatment?",
            ),
            changed(
                "I want the in-office laser whitening.",
                "I changed my mind, I'd rather do the take-home whitening trays.",
                "Which whitening option did the patient choose?",
            ),
            changed(
                "Please split the bill into three credit card payments.",
                "Actually I'll pay the whole amount upfront by bank transfer.",
                "How is the patient paying for the treatment?",
            ),
            buried(
                "I've been terrified of needles since I was a kid",
                "Is the patient afraid of injections?",
            ),
            buried(
                "I grind my teeth at night, my wife hears it",
                "Does he have bruxism?",
            ),
        ],
        user: &[
            "I want to confirm my cleaning on the {n}th.",
            "How much is a filling?",
            "Are you open on Saturdays?",
            "My gums bled a little when brushing.",
            "Can I eat after the fluoride treatment?",
            "I need to reschedule my checkup.",
            "Is there validated parking?",
            "How long is the session?",
            "Is my panoramic x-ray ready?",
            "Got the reminder, thanks.",
            "I'll be {n} minutes late.",
            "Can you text me the estimate?",
            "Which toothpaste did the dentist recommend?",
            "Any openings next week?",
        ],
        assistant: &[
            "Sure, let me look at the schedule.",
            "Noted, thanks for letting us know.",
            "Confirmed for {n} o'clock.",
            "Fillings start at {n}0 dollars.",
            "We're open Saturdays until noon.",
            "Yes, after thirty minutes.",
            "I've just sent the estimate.",
            "Okay, I'll tell the dentist.",
            "We have Tuesday and Thursday open.",
            "Just message us if you need anything.",
        ],
        small_talk: (
            "What a storm yesterday, and my team lost again. Oh, and",
            "So, about the appointment.",
        ),
    },
    Script {
        vertical: "legal",
        lang: "pt",
        probes: &[
            early(
                "Fui demitido sem justa causa da transportadora em março e não recebi as verbas rescisórias.",
                "Qual é o problema trabalhista do cliente?",
            ),
            early(
                "Meu número de processo é 0001234-56.2025.5.02.0001, na vara de São Paulo.",
                "Qual o número do processo do cliente?",
            ),
            changed(
                "Aceito fazer acordo se pagarem pelo menos vinte mil.",
                "Depois de conversar com minha família, só aceito acordo acima de trinta e cinco mil.",
                "Qual o valor mínimo que o cliente aceita num acordo?",
            ),
            changed(
                "Pode me mandar as atualizações por e-mail.",
                "Prefiro receber as atualizações só pelo WhatsApp agora, não leio mais o e-mail.",
                "Por qual canal o cliente quer ser avisado?",
            ),
            buried(
                "o meu ex-chefe mandou mensagem me ameaçando semana passada",
                "O cliente sofreu alguma ameaça do ex-empregador?",
            ),
            buried(
                "guardei todos os holerites numa pasta em casa",
                "O cliente tem os comprovantes de salário?",
            ),
        ],
        user: &[
            "Tem alguma novidade do meu caso?",
            "Quando é a próxima audiência?",
            "Preciso levar algum documento no dia {n}?",
            "Recebi uma carta do fórum, posso mandar foto?",
            "Quanto ficam os honorários?",
            "O doutor pode me ligar hoje?",
            "Assinei a procuração, mando como?",
            "Quanto tempo costuma demorar?",
            "Minha testemunha pode ir de manhã?",
            "Ok, obrigado pelo retorno.",
            "Vou passar no escritório às {n} horas.",
            "Pode reenviar o contrato?",
            "Tenho que pagar custas?",
            "Consigo remarcar a reunião?",
        ],
        assistant: &[
            "Vou verificar com o advogado responsável.",
            "Certo, anotei aqui.",
            "A audiência está marcada para o dia {n}.",
            "Pode mandar a foto por aqui mesmo.",
            "O prazo estimado é de {n} meses.",
            "Sim, ele retorna no fim da tarde.",
            "Enviei o contrato por e-mail.",
            "Vou deixar registrado no seu processo.",
            "Temos horário na segunda e na quarta.",
            "Estamos à disposição.",
        ],
        small_talk: (
            "Desculpa a demora, meu filho estava doente e o ônibus atrasou. Aliás,",
            "Bom, voltando ao assunto.",
        ),
    },
    Script {
        vertical: "legal",
        lang: "en",
        probes: &[
            early(
                "I was fired from the trucking company in March without cause and never got my severance.",
                "What is the client's employment dispute about?",
            ),
            early(
                "My case number is 2025-CV-04417 in the Cook County court.",
                "What is the client's case number?",
            ),
            changed(
                "I'd settle if they pay at least twenty thousand.",
                "After talking with my family, I won't settle for less than thirty-five thousand.",
                "What is the lowest settlement the client will accept?",
            ),
            changed(
                "Email is fine for updates.",
                "Please only text me updates from now on, I don't check email anymore.",
                "How does the client want to receive updates?",
            ),
            buried(
                "my old boss sent me a threatening message last week",
                "Has the former employer threatened the client?",
            ),
            buried(
                "I kept every pay stub in a folder at home",
                "Does the client have proof of his wages?",
            ),
        ],
        user: &[
            "Any news on my case?",
            "When is the next hearing?",
            "Do I need to bring anything on the {n}th?",
            "I got a letter from the court, can I send a photo?",
            "What are your fees?",
            "Can the attorney call me today?",
            "I signed the power of attorney, how do I send it?",
            "How long does this usually take?",
            "Can my witness come in the morning?",
            "Okay, thanks for getting back to me.",
            "I'll stop by the office at {n}.",
            "Could you resend the engagement letter?",
            "Do I have to pay court costs?",
            "Can we move the meeting?",
        ],
        assistant: &[
            "I'll check with the attorney on your case.",
            "Got it, I've noted that.",
            "The hearing is set for the {n}th.",
            "Yes, send the photo here.",
            "It usually takes about {n} months.",
            "Yes, she'll call you back this afternoon.",
            "I've emailed you the letter.",
            "I'll add that to your file.",
            "We have Monday and Wednesday available.",
            "We're here if you need anything.",
        ],
        small_talk: (
            "Sorry for the delay, my son was sick and the bus was late. By the way,",
            "Anyway, back to the case.",
        ),
    },
    Script {
        vertical: "retail",
        lang: "pt",
        probes: &[
            early(
                "Calço 38 e uso roupa tamanho M.",
                "Qual o tamanho de calçado da cliente?",
            ),
            early(
                "Meu endereço de entrega é Rua Augusta, 1500, apartamento 42, em São Paulo.",
                "Para onde devemos enviar os pedidos dela?",
            ),
            changed(
                "Gosto mais de peças pretas e discretas.",
                "Ultimamente estou preferindo cores fortes, tipo vermelho e verde.",
                "Que cores a cliente prefere agora?",
            ),
            changed(
                "Pode entregar no trabalho durante o dia.",
                "Mudei de emprego, então entreguem em casa, só à noite.",
                "Onde e quando a entrega deve ser feita?",
            ),
            buried(
                "sou vegana, então nada de couro animal pra mim",
                "A cliente aceita produtos de couro?",
            ),
            buried(
                "o aniversário da minha irmã é dia 12 de agosto",
                "Quando é o aniversário da irmã da cliente?",
            ),
        ],
        user: &[
            "Meu pedido {n} já saiu para entrega?",
            "Vocês têm esse vestido em outra cor?",
            "Qual o prazo de troca?",
            "O cupom de desconto não funcionou.",
            "Dá para parcelar sem juros?",
            "Quero cancelar o item {n} do pedido.",
            "Chegou amassado, como faço?",
            "Tem loja física perto do centro?",
            "O frete é grátis acima de quanto?",
            "Ok, obrigada!",
            "Vou esperar o código de rastreio.",
            "Pode mandar o link de pagamento de novo?",
            "Essa calça estica?",
            "Quando chega a coleção nova?",
        ],
        assistant: &[
            "Vou consultar o status do pedido.",
            "Perfeito, já registrei.",
            "O pedido saiu hoje e chega em {n} dias úteis.",
            "Temos em azul, bege e preto.",
            "A troca pode ser feita em até {n} dias.",
            "Parcelamos em até {n} vezes sem juros.",
            "Enviei o link de novo.",
            "Vou abrir uma solicitação de troca.",
            "A loja do centro fica na Praça da Sé.",
            "Qualquer dúvida, estamos aqui.",
        ],
        small_talk: (
            "Ai, que semana corrida, nem dormi direito. Mas enfim,",
            "Voltando às compras.",
        ),
    },
    Script {
        vertical: "retail",
        lang: "en",
        probes: &[
            early(
                "I wear a size 8 shoe and medium tops.",
                "What shoe size does the customer wear?",
            ),
            early(
                "Ship everything to 45 Maple Avenue, apartment 3B, Portland.",
                "Where should we ship her orders?",
            ),
            changed(
                "I mostly like black, understated pieces.",
                "Lately I'm into bold colors like red and emerald green.",
                "Which colors does the customer prefer now?",
            ),
            changed(
                "You can deliver to my office during the day.",
                "I changed jobs, so please deliver at home, evenings only.",
                "Where and when should deliveries go?",
            ),
            buried(
                "I'm vegan, so no animal leather for me",
                "Does the customer buy leather goods?",
            ),
            buried(
                "my sister's birthday is on August 12th",
                "When is the customer's sister's birthday?",
            ),
        ],
        user: &[
            "Has order {n} shipped yet?",
            "Do you have this dress in another color?",
            "What's your return window?",
            "The discount code didn't work.",
            "Can I pay in installments?",
            "Please cancel item {n} from my order.",
            "It arrived wrinkled, what do I do?",
            "Is there a store downtown?",
            "What's the minimum for free shipping?",
            "Okay, thanks!",
            "I'll wait for the tracking number.",
            "Can you resend the payment link?",
            "Does this denim stretch?",
            "When does the new collection arrive?",
        ],
        assistant: &[
            "Let me look up your order.",
            "Perfect, I've noted it.",
            "It shipped today and arrives in {n} business days.",
            "We have it in blue, beige and black.",
            "Returns are accepted within {n} days.",
            "You can split it into {n} payments.",
            "I've resent the link.",
            "I'll open an exchange request.",
            "Our downtown store is on Main Square.",
            "Happy to help with anything else.",
        ],
        small_talk: (
            "Ugh, such a hectic week, I barely slept. Anyway,",
            "Back to shopping.",
        ),
    },
];

/// One message of the corpus, with the id the benchmark appends it under.
#[derive(Debug, Clone)]
pub struct Turn {
    pub message_id: String,
    pub user: bool,
    pub text: String,
    /// Minutes after the corpus's start.
    pub minute: i64,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub conversation_id: String,
    pub turns: Vec<Turn>,
}

#[derive(Debug, Clone)]
pub struct Question {
    pub kind: ProbeKind,
    pub text: String,
    /// Message ids whose presence in the context answers the question.
    pub evidence: Vec<String>,
}

/// One customer's history: sessions in time order, questions asked in the
/// last one.
#[derive(Debug, Clone)]
pub struct History {
    pub user_id: String,
    pub lang: &'static str,
    pub sessions: Vec<Session>,
    pub questions: Vec<Question>,
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Sizes of the corpus.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Customers per (vertical, language) script.
    pub per_script: usize,
    pub sessions: usize,
    /// Turns (customer + agent) per session.
    pub turns: usize,
    pub seed: u64,
}

/// Builds the corpus.
pub fn generate(shape: Shape) -> Vec<History> {
    let mut rng = Rng(shape.seed | 1);
    let mut out = Vec::new();
    for script in SCRIPTS {
        for k in 0..shape.per_script {
            out.push(history(script, k, shape, &mut rng));
        }
    }
    out
}

fn fill(template: &str, rng: &mut Rng) -> String {
    template.replace("{n}", &(2 + rng.below(27)).to_string())
}

fn history(script: &Script, k: usize, shape: Shape, rng: &mut Rng) -> History {
    let user_id = format!("{}-{}-{k}", script.vertical, script.lang);
    let sessions_n = shape.sessions.max(3);
    // Where each planted statement goes: (session, turn) of a user turn.
    let user_slot = |rng: &mut Rng, session: usize, from: usize, to: usize| {
        let from = from.min(shape.turns - 2) / 2;
        let to = (to.min(shape.turns) / 2).max(from + 1);
        (session, 2 * (from + rng.below(to - from)))
    };
    let mut planted: Vec<((usize, usize), String, Option<usize>)> = Vec::new();
    for (p, probe) in script.probes.iter().enumerate() {
        match probe.kind {
            ProbeKind::Early => {
                let slot = user_slot(rng, 0, 2, shape.turns / 3);
                planted.push((slot, probe.statement.to_owned(), Some(p)));
            }
            ProbeKind::Changed => {
                let first = user_slot(rng, 0, 2, shape.turns / 2);
                planted.push((first, probe.earlier.unwrap_or_default().to_owned(), None));
                let later = user_slot(rng, sessions_n - 2, 0, shape.turns);
                planted.push((later, probe.statement.to_owned(), Some(p)));
            }
            ProbeKind::Buried => {
                let session = 1 + rng.below(sessions_n - 2);
                let slot = user_slot(rng, session, 0, shape.turns);
                let text = format!(
                    "{} {}. {}",
                    script.small_talk.0, probe.statement, script.small_talk.1
                );
                planted.push((slot, text, Some(p)));
            }
        }
    }
    // Two statements on one slot: move the later one to the next free one.
    planted.sort_by_key(|(slot, _, _)| *slot);
    for i in 1..planted.len() {
        while planted[..i].iter().any(|(s, _, _)| *s == planted[i].0) {
            let (session, turn) = planted[i].0;
            planted[i].0 = if turn + 2 < shape.turns {
                (session, turn + 2)
            } else {
                (session + 1, 0)
            };
        }
    }

    let mut evidence: Vec<Vec<String>> = vec![Vec::new(); script.probes.len()];
    let mut sessions = Vec::new();
    for s in 0..sessions_n {
        // Sessions a week apart, each starting at 09:00.
        let start = (s as i64) * 7 * 24 * 60 + 9 * 60;
        let mut turns = Vec::new();
        for t in 0..shape.turns {
            let message_id = format!("{user_id}-s{s}-t{t}");
            let planted_here = planted.iter().find(|(slot, _, _)| *slot == (s, t));
            let text = match planted_here {
                Some((_, text, probe)) => {
                    if let Some(p) = probe {
                        evidence[*p].push(message_id.clone());
                    }
                    text.clone()
                }
                None if t % 2 == 0 => fill(rng.pick(script.user), rng),
                None => fill(rng.pick(script.assistant), rng),
            };
            turns.push(Turn {
                message_id,
                user: t % 2 == 0,
                text,
                minute: start + t as i64,
            });
        }
        sessions.push(Session {
            conversation_id: format!("{user_id}-s{s}"),
            turns,
        });
    }
    let questions = script
        .probes
        .iter()
        .zip(evidence)
        .map(|(probe, evidence)| Question {
            kind: probe.kind,
            text: probe.question.to_owned(),
            evidence,
        })
        .collect();
    History {
        user_id,
        lang: script.lang,
        sessions,
        questions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_question_has_its_evidence_in_the_history() {
        let shape = Shape {
            per_script: 2,
            sessions: 6,
            turns: 80,
            seed: 7,
        };
        let corpus = generate(shape);
        assert_eq!(corpus.len(), SCRIPTS.len() * 2);
        for h in &corpus {
            let ids: Vec<&str> = h
                .sessions
                .iter()
                .flat_map(|s| &s.turns)
                .map(|t| t.message_id.as_str())
                .collect();
            assert_eq!(ids.len(), 6 * 80);
            for q in &h.questions {
                assert_eq!(q.evidence.len(), 1, "{}: {}", h.user_id, q.text);
                assert!(ids.contains(&q.evidence[0].as_str()));
                // Never in the last session: the question is asked there.
                assert!(!q.evidence[0].contains("-s5-"));
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_corpus() {
        let shape = Shape {
            per_script: 1,
            sessions: 4,
            turns: 40,
            seed: 3,
        };
        let a: Vec<String> = generate(shape)
            .iter()
            .flat_map(|h| {
                h.sessions
                    .iter()
                    .flat_map(|s| s.turns.iter().map(|t| t.text.clone()))
            })
            .collect();
        let b: Vec<String> = generate(shape)
            .iter()
            .flat_map(|h| {
                h.sessions
                    .iter()
                    .flat_map(|s| s.turns.iter().map(|t| t.text.clone()))
            })
            .collect();
        assert_eq!(a, b);
    }
}
