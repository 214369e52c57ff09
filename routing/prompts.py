"""Every word the IVR says, in English and Spanish.

Prompts are looked up by key and language and filled with ``str.format`` parameters; digits
meant to be read one by one are passed already spaced (see :func:`spoken_digits`).
"""

from __future__ import annotations

import re

#: Say attributes per language: (voice, language). Polly voices speak numbers naturally.
VOICES: dict[str, tuple[str, str]] = {
    "en": ("Polly.Joanna", "en-US"),
    "es": ("Polly.Lupe", "es-US"),
}

_EMERGENCY_EN = (
    "If you or someone with you may have overdosed or is in danger, hang up now and dial "
    "9 1 1. If you are thinking about suicide, call or text 9 8 8."
)
_EMERGENCY_ES = (
    "Si usted o alguien con usted pudo haber tenido una sobredosis o está en peligro, cuelgue "
    "ahora y marque 9 1 1. Si está pensando en el suicidio, llame o envíe un mensaje de texto "
    "al 9 8 8."
)

#: key -> language -> text. Every key exists in every language (checked by the tests).
PROMPTS: dict[str, dict[str, str]] = {
    # The very first thing a caller hears: the emergency notice, then the language choice.
    "welcome": {
        "en": "Thank you for calling. " + _EMERGENCY_EN + " For English, press 1.",
        "es": _EMERGENCY_ES + " Para español, oprima 2.",
    },
    "language_menu": {
        "en": "For English, press 1.",
        "es": "Para español, oprima 2.",
    },
    "emergency": {"en": _EMERGENCY_EN, "es": _EMERGENCY_ES},
    "restart": {
        "en": "Sorry, we lost your place. Let's start again.",
        "es": "Disculpe, perdimos su lugar. Empecemos de nuevo.",
    },
    "situation_menu": {
        "en": "If you are calling for yourself, press 1. If you are calling for someone "
        "else, press 2.",
        "es": "Si llama por usted mismo, oprima 1. Si llama por otra persona, oprima 2.",
    },
    "urgency_menu_self": {
        "en": "Are you in withdrawal or using right now? For yes, press 1. For no, press 2.",
        "es": "¿Está usted con síntomas de abstinencia o consumiendo en este momento? "
        "Para sí, oprima 1. Para no, oprima 2.",
    },
    "urgency_menu_other": {
        "en": "Is the person you are calling about in withdrawal or using right now? "
        "For yes, press 1. For no, press 2.",
        "es": "¿La persona por quien llama está con síntomas de abstinencia o consumiendo en "
        "este momento? Para sí, oprima 1. Para no, oprima 2.",
    },
    "insurance_menu": {
        "en": "What kind of insurance is it? For P P O, press 1. For H M O, press 2. For "
        "Medicaid, press 3. For Medicare, press 4. For no insurance or self pay, press 5. "
        "If you are not sure, press 6.",
        "es": "¿Qué tipo de seguro médico tiene? Para P P O, oprima 1. Para H M O, oprima 2. "
        "Para Medicaid, oprima 3. Para Medicare, oprima 4. Si no tiene seguro o paga por su "
        "cuenta, oprima 5. Si no está seguro, oprima 6.",
    },
    "caller_id_menu": {
        "en": "A counselor will call you back at the number ending in {last_four}. To confirm "
        "that we may call you at that number, press 1. To give us a different number, "
        "press 2.",
        "es": "Un consejero le devolverá la llamada al número que termina en {last_four}. "
        "Para confirmar que podemos llamarle a ese número, oprima 1. Para darnos otro "
        "número, oprima 2.",
    },
    "enter_number": {
        "en": "Please enter the 10 digit phone number where we can call you back, including "
        "the area code, then press pound.",
        "es": "Por favor marque el número de teléfono de 10 dígitos, con el código de área, "
        "donde podemos devolverle la llamada, y luego oprima la tecla numeral.",
    },
    "invalid_number": {
        "en": "Sorry, that is not a valid phone number. It needs 10 digits, starting with "
        "the area code.",
        "es": "Disculpe, ese no es un número de teléfono válido. Necesita 10 dígitos, "
        "empezando con el código de área.",
    },
    "number_not_personal": {
        "en": "Sorry, we cannot call that kind of number back. Please enter a mobile or home "
        "phone number, not a toll-free or pay-per-call number.",
        "es": "Disculpe, no podemos devolver la llamada a ese tipo de número. Por favor, marque "
        "un número de celular o de casa, no un número gratuito ni de pago por llamada.",
    },
    "number_is_ours": {
        "en": "Sorry, that number belongs to this helpline. Please enter the number where we "
        "can reach you.",
        "es": "Disculpe, ese número es de esta línea de ayuda. Por favor, marque el número "
        "donde podemos comunicarnos con usted.",
    },
    "confirm_number_menu": {
        "en": "You entered {digits}. If that is correct and we may call you there, press 1. "
        "To enter it again, press 2.",
        "es": "Usted marcó {digits}. Si es correcto y podemos llamarle ahí, oprima 1. Para "
        "marcarlo de nuevo, oprima 2.",
    },
    "no_input": {
        "en": "Sorry, we did not get your answer.",
        "es": "Disculpe, no recibimos su respuesta.",
    },
    "wrong_key": {
        "en": "Sorry, that is not one of the choices.",
        "es": "Disculpe, esa no es una de las opciones.",
    },
    "closing": {
        "en": "Thank you. You are number {place} in line for a callback. We expect to call "
        "you back in about {wait}. Please keep your phone nearby. Goodbye.",
        "es": "Gracias. Usted es el número {place} en la fila para recibir una llamada. "
        "Esperamos llamarle en aproximadamente {wait}. Por favor mantenga su teléfono "
        "cerca. Adiós.",
    },
    "no_number": {
        "en": "We are sorry, we could not get a number to call you back. "
        + _EMERGENCY_EN
        + " You can call us again at any time at {hotline}. Goodbye.",
        "es": "Lo sentimos, no pudimos obtener un número para devolverle la llamada. "
        + _EMERGENCY_ES
        + " Puede llamarnos de nuevo en cualquier momento al {hotline}. Adiós.",
    },
    "pending_menu": {
        "en": "You already have a callback request with us, and you keep your place: you "
        "are number {place} in line. To keep your callback, press 1. To cancel it, press 2.",
        "es": "Usted ya tiene una solicitud de llamada con nosotros y mantiene su lugar: es "
        "el número {place} en la fila. Para mantener su llamada, oprima 1. Para cancelarla, "
        "oprima 2.",
    },
    "pending_menu_no_place": {
        "en": "You already have a callback request with us, and it is still in place. To "
        "keep your callback, press 1. To cancel it, press 2.",
        "es": "Usted ya tiene una solicitud de llamada con nosotros y sigue en pie. Para "
        "mantener su llamada, oprima 1. Para cancelarla, oprima 2.",
    },
    "kept": {
        "en": "Thank you. Your callback is still in place, and you keep your place in line. "
        "Goodbye.",
        "es": "Gracias. Su llamada sigue en pie y usted mantiene su lugar en la fila. Adiós.",
    },
    "cancel_too_late": {
        "en": "A counselor is calling you back right now, so your callback can no longer be "
        "cancelled. If you do not want the call, you do not have to answer. Goodbye.",
        "es": "Un consejero le está llamando en este momento, así que su llamada ya no se "
        "puede cancelar. Si no desea la llamada, no tiene que contestar. Adiós.",
    },
    "goodbye": {
        "en": "Thank you for calling. Goodbye.",
        "es": "Gracias por llamar. Adiós.",
    },
    "cancelled": {
        "en": "Your callback has been cancelled. You can call us again at any time. Goodbye.",
        "es": "Su llamada ha sido cancelada. Puede llamarnos de nuevo en cualquier momento. Adiós.",
    },
    # --- When Hotline cannot answer: the IVR's apology (emergency numbers first) -------
    "apology": {
        "en": "We are sorry, something went wrong on our side. If you are in danger or may "
        "have overdosed, hang up and dial 9 1 1. If you are thinking about suicide, call or "
        "text 9 8 8. Please call us again.",
        "es": "Lo sentimos, hubo un problema de nuestro lado. Si está en peligro o pudo haber "
        "tenido una sobredosis, cuelgue y marque 9 1 1. Si está pensando en el suicidio, "
        "llame o envíe un mensaje de texto al 9 8 8. Por favor llámenos de nuevo.",
    },
    # --- The callback legs. The caller's side never names the hotline or its purpose:
    # someone else may answer, and a voicemail may be heard by anyone. ------------------
    "callback_trouble": {
        "en": "We are sorry, this call cannot continue. Goodbye.",
        "es": "Lo sentimos, esta llamada no puede continuar. Adiós.",
    },
    "callback_gone": {
        "en": "This callback is no longer available. Thank you.",
        "es": "Esta devolución de llamada ya no está disponible. Gracias.",
    },
    "callback_press": {
        "en": "Please press 1 to accept or 2 to decline.",
        "es": "Pulse 1 para aceptar o 2 para rechazar.",
    },
    "callback_declined": {
        "en": "Declined. The caller keeps their place in line. Thank you.",
        "es": "Rechazada. La persona conserva su lugar en la fila. Gracias.",
    },
    "callback_connecting": {
        "en": "Calling them now. Please hold.",
        "es": "Llamando ahora. Por favor espere.",
    },
    "callback_greeting": {
        "en": "Hello, this is the call you asked us to return. Please hold.",
        "es": "Hola, esta es la llamada que nos pidió devolver. Por favor espere.",
    },
    "callback_press_to_connect": {
        "en": "To be connected now, press 1.",
        "es": "Para conectarse ahora, oprima 1.",
    },
    "callback_voicemail": {
        "en": "Hello, we are returning your call. Please call us back when you can. Thank you.",
        "es": "Hola, le devolvemos su llamada. Por favor llámenos cuando pueda. Gracias.",
    },
    "callback_ended": {
        "en": "The call has ended. You have {seconds} seconds of wrap-up.",
        "es": "La llamada terminó. Tiene {seconds} segundos para cerrar el caso.",
    },
    "callback_retry": {
        "en": "The caller was not reached ({outcome}). We will try again later. "
        "You are available again.",
        "es": "No se pudo contactar a la persona ({outcome}). Lo intentaremos más "
        "tarde. Usted está disponible de nuevo.",
    },
    "callback_requeued": {
        "en": "The caller keeps their place in line. You are available again.",
        "es": "La persona conserva su lugar en la fila. Usted está disponible de nuevo.",
    },
    "callback_unreachable": {
        "en": "The caller was not reached after every attempt. You are available again.",
        "es": "No se pudo contactar a la persona tras todos los intentos. Usted "
        "está disponible de nuevo.",
    },
    "callback_failed": {
        "en": "The caller's number cannot be called. You are available again.",
        "es": "No se puede llamar a ese número. Usted está disponible de nuevo.",
    },
    # The whisper: the lead in a few words for the counselor (no name, no number).
    "whisper": {
        "en": "Callback. {urgent}Calling {who}. Speaks {tongue}. {insurance}. "
        "Waited {minutes} minutes. Press 1 to accept, 2 to decline.",
        "es": "Devolución de llamada. {urgent}Llama {who}. Habla {tongue}. {insurance}. "
        "Esperó {minutes} minutos. Pulse 1 para aceptar, 2 para rechazar.",
    },
}

#: Words the whisper fills in, by language.
_WHISPER_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "urgent": "Urgent: in withdrawal or using now. ",
        "self": "for themselves",
        "other": "for someone else",
        "lang_en": "English",
        "lang_es": "Spanish",
        "ppo": "P P O",
        "hmo": "H M O",
        "medicaid": "Medicaid",
        "medicare": "Medicare",
        "none": "no insurance",
        "unknown": "insurance unknown",
    },
    "es": {
        "urgent": "Urgente: en abstinencia o consumiendo ahora. ",
        "self": "para sí mismo",
        "other": "por otra persona",
        "lang_en": "inglés",
        "lang_es": "español",
        "ppo": "P P O",
        "hmo": "H M O",
        "medicaid": "Medicaid",
        "medicare": "Medicare",
        "none": "sin seguro",
        "unknown": "seguro desconocido",
    },
}

_MINUTES = {"en": ("1 minute", "{n} minutes"), "es": ("1 minuto", "{n} minutos")}
_HOURS = {"en": ("1 hour", "{n} hours"), "es": ("1 hora", "{n} horas")}


def text(key: str, language: str, **params: object) -> str:
    """The prompt ``key`` in ``language`` (English if the language is unknown), filled in."""
    by_language = PROMPTS[key]
    template = by_language.get(language) or by_language["en"]
    return template.format(**params)


def voice(language: str) -> tuple[str, str]:
    """The (voice, language) Say attributes for a language."""
    return VOICES.get(language, VOICES["en"])


def spoken_digits(digits: str) -> str:
    """Digits spaced so they are read one by one; a 10-digit number grouped 3-3-4."""
    only = re.sub(r"\D", "", digits)
    if len(only) == 10:
        groups = [only[:3], only[3:6], only[6:]]
    else:
        groups = [only]
    return ", ".join(" ".join(group) for group in groups)


def spoken_wait(seconds: int, language: str) -> str:
    """An honest, rounded wait: minutes (up to 5-minute steps) below two hours, then hours."""
    minutes = max(1, -(-int(seconds) // 60))  # round up: never promise sooner than estimated
    if minutes >= 120:
        hours = -(-minutes // 60)
        return _HOURS.get(language, _HOURS["en"])[1].format(n=hours)
    if minutes > 10:
        minutes = -(-minutes // 5) * 5
    one, many = _MINUTES.get(language, _MINUTES["en"])
    return one if minutes == 1 else many.format(n=minutes)


def whisper(lead: object, language: str, now: float) -> str:
    """The whisper for a lead (a routing.leads.Lead) in the counselor's language."""
    words = _WHISPER_WORDS.get(language, _WHISPER_WORDS["en"])
    first_call_at = float(getattr(lead, "first_call_at", now))
    insurance = str(getattr(lead, "insurance", "unknown"))
    return text(
        "whisper",
        language,
        urgent=words["urgent"] if getattr(lead, "urgent", False) else "",
        who=words["self"] if getattr(lead, "situation", "self") == "self" else words["other"],
        tongue=words["lang_es"] if getattr(lead, "language", "en") == "es" else words["lang_en"],
        insurance=words.get(insurance, insurance),
        minutes=max(0, int(now - first_call_at) // 60),
    )
