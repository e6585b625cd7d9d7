//! Message importance (SPEC §3): emergencies 1.0; pain, doctors,
//! medicine and legal matters 0.8; a statement about oneself 0.65;
//! ordinary 0.5; small talk about time and greetings 0.3.
//! The word lists are per language and replaceable by configuration.

use crate::{fold, words};

/// Importance rules: phrases per level, matched on folded text.
#[derive(Debug, Clone)]
pub struct ImportanceRules {
    /// (importance, phrases) checked in order; the first level with a match
    /// wins. Phrases are folded (lowercase, no accents) and match whole words.
    pub levels: Vec<(f32, Vec<String>)>,
    /// Words that, when a message holds nothing else, make it small talk.
    pub small_talk: Vec<String>,
    pub small_talk_importance: f32,
    /// A statement about oneself ("I take…", "my insurer is…", "sou
    /// alérgica…"): what a customer discloses is what memory is for.
    /// Questions are not statements.
    pub disclosure: Vec<String>,
    pub disclosure_importance: f32,
    pub ordinary: f32,
}

impl Default for ImportanceRules {
    /// Portuguese and English defaults.
    fn default() -> Self {
        let list = |s: &str| s.split(',').map(|p| fold(p.trim())).collect::<Vec<_>>();
        Self {
            levels: vec![
                (
                    1.0,
                    list(
                        "emergencia, urgente, urgencia, socorro, sangramento, sangrando, \
                         desmaiou, desmaio, infarto, convulsao, nao consigo respirar, falta de ar, \
                         dor no peito, overdose, suicidio, emergency, urgent, bleeding, \
                         unconscious, fainted, seizure, heart attack, chest pain, \
                         can't breathe, cannot breathe, suicide",
                    ),
                ),
                (
                    0.8,
                    list(
                        "dor, doendo, doi, inchado, inchaco, febre, alergia, alergico, medico, \
                         medica, doutor, doutora, dentista, remedio, medicamento, receita, \
                         antibiotico, exame, cirurgia, diagnostico, tratamento, processo, \
                         audiencia, prazo, advogado, pain, hurts, swollen, fever, allergy, \
                         allergic, doctor, dentist, medicine, medication, prescription, \
                         surgery, diagnosis, treatment, lawsuit, hearing, deadline, lawyer",
                    ),
                ),
            ],
            small_talk: list(
                "oi, ola, bom, boa, dia, tarde, noite, obrigado, obrigada, valeu, ok, okay, \
                 blz, beleza, tudo, bem, certo, tchau, ate, logo, mais, que, horas, sao, \
                 hello, hi, hey, good, morning, afternoon, evening, thanks, thank, you, bye, \
                 see, what, time, is, it, great, fine, sure, yes, no, sim, nao",
            ),
            small_talk_importance: 0.3,
            disclosure: list(
                "sou, estou, tenho, tive, tomo, uso, usei, moro, calco, prefiro, preferimos, \
                 gosto, quero, troquei, mudei, desisti, fiz, guardei, aceito, trabalho, \
                 meu, minha, meus, minhas, i am, i m, i have, i ve, i had, i take, i use, \
                 i live, i wear, i prefer, i like, i want, i switched, i changed, i kept, \
                 i work, i d, my",
            ),
            disclosure_importance: 0.65,
            ordinary: 0.5,
        }
    }
}

impl ImportanceRules {
    /// Whether a text holds nothing but small talk ("ok, obrigado!", "bom
    /// dia", "thanks"): nothing older to recall for it.
    pub fn is_small_talk(&self, content: &str) -> bool {
        words(content).all(|w| self.small_talk.contains(&w))
    }

    pub fn score(&self, content: &str) -> f32 {
        let folded: Vec<String> = words(content).collect();
        if folded.is_empty() {
            return self.small_talk_importance;
        }
        for (importance, phrases) in &self.levels {
            if phrases.iter().any(|p| contains_phrase(&folded, p)) {
                return *importance;
            }
        }
        if folded.iter().all(|w| self.small_talk.contains(w)) {
            self.small_talk_importance
        } else if !content.trim_end().ends_with('?')
            && self.disclosure.iter().any(|p| contains_phrase(&folded, p))
        {
            self.disclosure_importance
        } else {
            self.ordinary
        }
    }
}

/// True when the folded words contain the phrase's words consecutively.
fn contains_phrase(words_: &[String], phrase: &str) -> bool {
    let needle: Vec<String> = words(phrase).collect();
    !needle.is_empty() && words_.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_levels() {
        let rules = ImportanceRules::default();
        assert_eq!(rules.score("Socorro, meu filho está sangrando muito!"), 1.0);
        assert_eq!(rules.score("I have chest pain"), 1.0);
        assert_eq!(rules.score("Estou com dor de dente desde ontem"), 0.8);
        assert_eq!(rules.score("O médico receitou amoxicilina"), 0.8);
        assert_eq!(rules.score("Qual o valor da limpeza?"), 0.5);
        assert_eq!(rules.score("Tomo losartana todas as manhãs"), 0.65);
        assert!(rules.is_small_talk("Ok, obrigado!") && rules.is_small_talk("bom dia"));
        assert!(!rules.is_small_talk("bom dia, a limpeza é amanhã?"));
        assert_eq!(rules.score("My insurer is Cigna now"), 0.65);
        assert_eq!(rules.score("Is my order ready?"), 0.5);
        assert_eq!(rules.score("Bom dia! Obrigado"), 0.3);
        assert_eq!(rules.score("what time is it?"), 0.3);
        assert_eq!(rules.score("🙂"), 0.3);
        // Whole words only: "dor" is not in "doramas".
        assert_eq!(rules.score("vi uns doramas ontem"), 0.5);
    }
}
